/**
 * Admin routes for flow control: queues (list, pause, resume) and cron schedules. Kept apart
 * from `handler.ts`, which spreads them into its route table.
 * @module
 */

import type { TaskDispatcher } from "../dispatcher.ts";
import { HttpError, jsonResponse } from "./_http.ts";

/** One route, in the shape of the handler's route table. */
export interface FlowRoute {
  method: "GET" | "POST";
  pattern: RegExp;
  run: (params: { id: string; request: Request }) => Promise<Response>;
}

/**
 * - `GET /api/queues`: every queue with its paused state and limits;
 * - `POST /api/queues/:queue/pause`, `POST /api/queues/:queue/resume` (body `{}`);
 * - `GET /api/schedules`: every schedule with its last slot and next run.
 */
export function flowRoutes(
  dispatcher: TaskDispatcher,
  readBody: (request: Request) => Promise<unknown>,
): FlowRoute[] {
  const badInput = async <T>(run: () => Promise<T>) => {
    try {
      return await run();
    } catch (error) {
      if (error instanceof TypeError || error instanceof RangeError) {
        throw new HttpError(400, error.message);
      }
      throw error;
    }
  };
  const setPaused =
    (paused: boolean) => async ({ id, request }: { id: string; request: Request }) => {
      await readBody(request);
      const state = await badInput(() =>
        paused ? dispatcher.pauseQueue(id) : dispatcher.resumeQueue(id)
      );
      return jsonResponse(state);
    };
  return [
    {
      method: "GET",
      pattern: /^\/api\/queues$/,
      run: async () => {
        const [queues, limits] = await Promise.all([
          dispatcher.listQueues(),
          dispatcher.listLimits(),
        ]);
        const byQueue = new Map(limits.filter((l) => l.scope === "queue").map((l) => [l.name, l]));
        return jsonResponse({
          queues: queues.map((q) => ({
            ...q,
            rateLimit: byQueue.get(q.name)?.rateLimit ?? null,
            maxRunning: byQueue.get(q.name)?.maxRunning ?? null,
          })),
          taskLimits: limits.filter((l) => l.scope === "task"),
        });
      },
    },
    { method: "POST", pattern: /^\/api\/queues\/([^/]+)\/pause$/, run: setPaused(true) },
    { method: "POST", pattern: /^\/api\/queues\/([^/]+)\/resume$/, run: setPaused(false) },
    {
      method: "GET",
      pattern: /^\/api\/schedules$/,
      run: async () => jsonResponse({ schedules: await dispatcher.listSchedules() }),
    },
  ];
}
