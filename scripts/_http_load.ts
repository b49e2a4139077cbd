/**
 * The load generator of `bench_http.ts`, run in a Web Worker so the client does not share the
 * server's thread: `concurrency` loops each keep one `POST /api/tasks` in flight (closed loop),
 * or, with a `rate`, send request `i` at `i / rate` seconds (open loop). Latency counts from the
 * moment a request is sent; how late the client sent it (its timers fire late when the machine
 * is busy) is measured apart, so a reader can tell client lag from server latency.
 * @module
 */

/** What the benchmark asks the load generator to do. */
export interface LoadRequest {
  url: string;
  token: string;
  warmup: number;
  requests: number;
  concurrency: number;
  /** Requests per second for an open-loop run; 0 for a closed loop. */
  rate: number;
}

/** What it measured: per-request latencies in ms (sorted), wall time and failures. */
export interface LoadResult {
  latencies: Float64Array<ArrayBuffer>;
  /** Open loop: how late each request left, in ms (sorted); all zero for a closed loop. */
  lateness: Float64Array<ArrayBuffer>;
  seconds: number;
  errors: number;
}

interface WorkerScope {
  onmessage: ((event: MessageEvent<LoadRequest>) => void) | null;
  postMessage(message: LoadResult, transfer: Transferable[]): void;
}

async function run(request: LoadRequest, count: number): Promise<LoadResult> {
  const headers = { authorization: `Bearer ${request.token}`, "content-type": "application/json" };
  const latencies = new Float64Array(count);
  const lateness = new Float64Array(count);
  let next = 0;
  let errors = 0;
  const begin = performance.now();
  const loop = async () => {
    while (next < count) {
      const index = next++;
      const body = JSON.stringify({ name: "noop", args: { index } });
      if (request.rate > 0) {
        const planned = begin + (index * 1000) / request.rate;
        const wait = planned - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        lateness[index] = Math.max(0, performance.now() - planned);
      }
      const started = performance.now();
      try {
        const response = await fetch(request.url, { method: "POST", headers, body });
        await response.arrayBuffer();
        if (response.status !== 201) errors++;
      } catch {
        errors++;
      }
      latencies[index] = performance.now() - started;
    }
  };
  await Promise.all(Array.from({ length: Math.min(request.concurrency, count) }, loop));
  const seconds = (performance.now() - begin) / 1000;
  return { latencies: latencies.sort(), lateness: lateness.sort(), seconds, errors };
}

const scope = globalThis as unknown as WorkerScope;
scope.onmessage = async ({ data }) => {
  if (data.warmup > 0) await run({ ...data, rate: 0 }, data.warmup);
  const result = await run(data, data.requests);
  scope.postMessage(result, [result.latencies.buffer, result.lateness.buffer]);
};
