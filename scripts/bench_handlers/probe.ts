import { defineTask } from "aether-tasks";

/** Does nothing but report when it started (epoch ms, sub-ms precision) for pickup latency. */
export default defineTask({
  name: "probe",
  run: () => performance.timeOrigin + performance.now(),
});
