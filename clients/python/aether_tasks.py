"""aether-tasks for Python: enqueue and await tasks, and run them in a Python worker.

Standard library only. Speaks the admin API (``POST /api/tasks``, ``GET /api/tasks/{id}/wait``)
and the HTTP worker protocol (``/api/v1/worker/...``, see docs/PROTOCOL.md).

    from aether_tasks import Client, Worker, PermanentError

    client = Client("http://127.0.0.1:7070", token)
    task_id = client.enqueue("resize", {"url": "a.png", "width": 64}, priority="high")
    task = client.wait(task_id, timeout=30)

    def resize(args, ctx):
        ctx.progress(0.5)
        if args["width"] <= 0:
            raise PermanentError("width must be positive")  # fails for good, no retry
        return {"ok": True}

    Worker("http://127.0.0.1:7070", token, handlers={"resize": resize}, concurrency=4).run()
"""

import http.client
import inspect
import json
import os
import queue
import signal
import socket
import sys
import threading
import time
import traceback
import urllib.parse

__all__ = ["Client", "Worker", "TaskContext", "AetherError", "PermanentError", "WaitTimeout"]

FINAL_STATUSES = ("COMPLETED", "FAILED", "CANCELLED")
#: Default long-poll of one fetch, in seconds.
DEFAULT_FETCH_WAIT = 10.0
#: Default seconds a stopping worker waits for running handlers before it gives them back.
DEFAULT_GRACE = 30.0
#: Most tasks one fetch asks for (the server's limit).
MAX_FETCH = 100
#: Seconds between checks for attempts past their timeout.
WATCHDOG_TICK = 0.2


class AetherError(Exception):
    """A request the server refused: ``status`` is the HTTP status, ``body`` the JSON answer."""

    def __init__(self, status, body):
        self.status = status
        self.body = body if isinstance(body, dict) else {"error": str(body)}
        super().__init__("HTTP %d: %s" % (status, self.body.get("error", body)))


class PermanentError(Exception):
    """Raise from a handler to fail the task for good (no retry)."""


class WaitTimeout(Exception):
    """``Client.wait`` ran out of time; ``task`` is the task as it was then."""

    def __init__(self, task):
        self.task = task
        super().__init__("task %s is still %s" % (task.get("id"), task.get("status")))


def _camel(key):
    head, *rest = key.split("_")
    return head + "".join(word.title() for word in rest)


class Client:
    """Enqueues tasks and awaits their results over the admin API.

    ``url`` is the admin endpoint (``http://host:port``), ``token`` its bearer token or None.
    One client may be shared by threads: each thread keeps its own keep-alive connection.
    """

    def __init__(self, url, token=None, timeout=60.0):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("url must be http://host:port or https://host:port, got %r" % (url,))
        self._scheme = parsed.scheme
        self._host = parsed.hostname
        self._port = parsed.port
        self._base = parsed.path.rstrip("/")
        self._netloc = parsed.netloc
        self._token = token
        self.timeout = timeout
        self._local = threading.local()

    def _connection(self, timeout):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=timeout)
            self._local.conn = conn
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def _drop_connection(self):
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def request(self, method, path, body=None, timeout=None):
        """Sends one request; returns ``(status, json)``. Raises ``AetherError`` for 4xx/5xx."""
        headers = {"host": self._netloc, "accept": "application/json"}
        if self._token:
            headers["authorization"] = "Bearer " + self._token
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode("utf-8")
            headers["content-type"] = "application/json"
        timeout = self.timeout if timeout is None else timeout
        for attempt in (1, 2):
            conn = self._connection(timeout)
            try:
                conn.request(method, self._base + path, body=data, headers=headers)
                response = conn.getresponse()
                raw = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A kept-alive connection the server closed meanwhile: once more on a fresh one.
                self._drop_connection()
                if attempt == 2:
                    raise
            except http.client.HTTPException as error:
                # A garbled or cut answer: a connection error to the caller, like the others.
                self._drop_connection()
                raise ConnectionError("%s %s: %s: %s" % (method, path, type(error).__name__, error))
            except Exception:
                self._drop_connection()
                raise
        if response.getheader("connection", "").lower() == "close":
            self._drop_connection()
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            answer = {"error": raw.decode("utf-8", "replace")[:500]}
        if response.status >= 400:
            raise AetherError(response.status, answer)
        return response.status, answer

    def enqueue(self, name, args=None, **options):
        """Enqueues ``name`` with ``args``; returns the task id.

        Options as the API takes them, in snake_case or camelCase: ``queue``, ``priority``,
        ``delay`` ("5m" or ms), ``timeout``, ``max_attempts``, ``retry_config``, ``unique``.
        """
        body = {"name": name}
        if args is not None:
            body["args"] = args
        for key, value in options.items():
            body[_camel(key)] = value
        return self.request("POST", "/api/tasks", body)[1]["id"]

    def get(self, task_id):
        """The task as the API shows it."""
        return self.request("GET", "/api/tasks/" + urllib.parse.quote(task_id, safe=""))[1]

    def wait(self, task_id, timeout=30.0):
        """Waits until the task is final (COMPLETED, FAILED or CANCELLED) and returns it.

        Raises ``WaitTimeout`` (with the task) when ``timeout`` seconds pass first.
        """
        deadline = time.monotonic() + timeout
        path = "/api/tasks/" + urllib.parse.quote(task_id, safe="") + "/wait"
        while True:
            left = deadline - time.monotonic()
            millis = max(1, int(left * 1000))
            status, task = self.request("GET", "%s?timeout=%d" % (path, millis), timeout=left + 30)
            if status == 200 and task.get("status") in FINAL_STATUSES:
                return task
            if time.monotonic() >= deadline:
                raise WaitTimeout(task)

    def task_types(self):
        """The published task types: name, queue, defaults and the args' JSON Schema."""
        return self.request("GET", "/api/v1/task-types")[1]["taskTypes"]


class TaskContext:
    """What a handler gets besides its args."""

    def __init__(self, worker, task):
        self._worker = worker
        self.task_id = task["id"]
        self.name = task["name"]
        self.queue = task["queue"]
        self.attempt = task["attempt"]
        self.max_attempts = task["maxAttempts"]
        self.token = task["token"]
        self.timeout_millis = task.get("timeoutMillis")
        self.scheduled_for = task.get("scheduledFor")
        #: The W3C trace context of the span that enqueued the task, or None (no tracing).
        self.traceparent = task.get("traceparent")
        self.tracestate = task.get("tracestate")
        #: Set when the task was cancelled, its lease was lost, or the worker is stopping.
        self.stopped = threading.Event()
        self.stop_reason = None
        self._started_at = None
        self._timed_out = False

    def progress(self, value):
        """Stores a progress value on the task (the latest one is kept)."""
        self._worker._task_call(self, "progress", {"token": self.token, "progress": value})

    def log(self, *parts):
        """Appends a line to the task's log (the last 100 lines are kept)."""
        line = " ".join(str(p) for p in parts)
        self._worker._task_call(self, "log", {"token": self.token, "lines": [line]})

    def _stop(self, reason):
        if self.stop_reason is None:
            self.stop_reason = reason
        self.stopped.set()


class _Stop(Exception):
    pass


class Worker:
    """Runs tasks of ``handlers`` (``{"name": fn(args, ctx)}``) fetched over the worker protocol.

    - ``queues``: the queues to fetch from; default: the queues the server publishes for the
      handlers' task names (``GET /api/v1/task-types``), else ``["default"]``;
    - ``concurrency``: handlers running at once, each in a thread (default 4);
    - ``batch``: most tasks per fetch (default ``concurrency``, at most 100);
    - ``prefetch``: tasks fetched ahead of free threads, leased and waiting (default ``batch``;
      0 fetches only for free threads), so handlers do not wait for a round trip;
    - ``lease_millis``: the lease asked for (default: the server's);
    - ``fetch_wait``: long-poll of a fetch, in seconds; ``grace``: seconds a stopping worker
      waits for running handlers before it gives their tasks back.

    ``run()`` blocks until ``stop()`` or SIGTERM/SIGINT (when run in the main thread): it stops
    fetching, gives back tasks not started, lets running handlers finish within ``grace``, sends
    their outcomes, releases the rest and leaves the registry. A handler's return value (JSON) is
    the result; an exception retries the task while attempts remain, ``PermanentError`` fails it
    for good; an attempt that runs past the task's ``timeoutMillis`` is reported failed at once
    (``ctx.stopped`` is set; the handler's thread runs on and its slot stays taken until it
    returns; its late result is dropped). Outcomes are fenced by the attempt token: one the server refuses (the task was
    taken back meanwhile) is logged and dropped.
    """

    def __init__(self, url, token=None, handlers=None, concurrency=4, queues=None, batch=None,
                 lease_millis=None, fetch_wait=DEFAULT_FETCH_WAIT, grace=DEFAULT_GRACE,
                 prefetch=None, log=None):
        if not handlers or not isinstance(handlers, dict):
            raise ValueError("handlers must be a non-empty dict of task name -> function")
        for name, fn in handlers.items():
            if not callable(fn):
                raise TypeError("handlers[%r] must be callable, got %r" % (name, fn))
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError("concurrency must be an integer >= 1, got %r" % (concurrency,))
        self.client = Client(url, token)
        self.handlers = dict(handlers)
        self._arity = {name: _arity(fn) for name, fn in self.handlers.items()}
        self.concurrency = concurrency
        self.queues = list(queues) if queues else None
        self.batch = min(MAX_FETCH, batch or concurrency)
        if prefetch is None:
            prefetch = self.batch
        if not isinstance(prefetch, int) or prefetch < 0:
            raise ValueError("prefetch must be an integer >= 0, got %r" % (prefetch,))
        self.prefetch = prefetch
        # Tasks held at most: running, plus fetched ahead so handlers never wait for a round trip.
        self._capacity = concurrency + prefetch
        self.lease_millis = lease_millis
        self.fetch_wait = fetch_wait
        self.grace = grace
        self._log = log or (lambda line: print("aether-tasks worker: " + line, file=sys.stderr, flush=True))
        self.worker_id = None
        self._lock = threading.Lock()
        # Two conditions on the one lock, so a finished task wakes only who waits for it.
        self._slots = threading.Condition(self._lock)  # a slot freed, an outcome sent, stopping
        self._have_outcomes = threading.Condition(self._lock)
        self._busy = 0  # slots taken: running or queued tasks, and fetches in flight
        self._held = {}  # id -> TaskContext, until its outcome is acknowledged
        self._ready = queue.Queue()  # tasks fetched, not started
        self._outcomes = []  # outcome items waiting to be sent
        self._stopping = threading.Event()
        self._finished = threading.Event()
        self.completed = 0

    # -- life cycle ---------------------------------------------------------------------------

    def run(self):
        """Registers, runs until stopped, then stops cleanly (see the class)."""
        installed = self._install_signals()
        try:
            self._register()
            threads = [threading.Thread(target=self._execute, name="aether-exec-%d" % i, daemon=True)
                       for i in range(self.concurrency)]
            for name, loop in (("complete", self._complete_loop), ("heartbeat", self._heartbeat_loop),
                               ("watchdog", self._watchdog_loop)):
                threads.append(threading.Thread(target=self._forever, args=(loop,), name="aether-" + name,
                                                daemon=True))
            fetcher = threading.Thread(target=self._forever, args=(self._fetch_loop,), name="aether-fetch",
                                       daemon=True)
            threads.append(fetcher)
            for thread in threads:
                thread.start()
            while not self._stopping.wait(0.5):
                pass
            self._shutdown()
            # Deregistering ended the fetch's long poll; it gives back what it still got.
            fetcher.join(5.0)
        finally:
            self._finished.set()
            for sig, previous in installed:
                signal.signal(sig, previous)

    def _forever(self, loop):
        """Runs a background loop; an unexpected error is logged and the loop goes on."""
        while True:
            try:
                loop()
                return
            except Exception:  # noqa: BLE001 - a background thread must not die silently
                self._log("unexpected error (continuing): %s" % (traceback.format_exc().strip(),))
                if self._stopping.wait(0.5) and loop == self._fetch_loop:
                    return

    def stop(self):
        """Asks the worker to stop (what SIGTERM does); ``run()`` returns once it has."""
        self._stopping.set()
        with self._lock:
            self._slots.notify_all()
            self._have_outcomes.notify_all()

    def _install_signals(self):
        if threading.current_thread() is not threading.main_thread():
            return []
        installed = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            installed.append((sig, signal.getsignal(sig)))
            signal.signal(sig, lambda *_: self.stop())
        return installed

    def _register(self):
        queues = self.queues
        if queues is None:
            try:
                published = {t["name"]: t["queue"] for t in self.client.task_types()}
            except (AetherError, OSError):
                published = {}
            queues = sorted({published.get(name, "default") for name in self.handlers})
        self.queues = queues
        body = {
            "queues": queues,
            "names": sorted(self.handlers),
            "concurrency": self.concurrency,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "meta": {"language": "python", "client": "aether_tasks.py"},
        }
        if self.lease_millis is not None:
            body["leaseMillis"] = self.lease_millis
        answer = self.client.request("POST", "/api/v1/worker/register", body)[1]
        self.worker_id = answer["workerId"]
        self._heartbeat_interval = answer["heartbeatIntervalMillis"] / 1000.0
        self._log("registered %s (queues %s, concurrency %d)" % (self.worker_id, ",".join(queues), self.concurrency))

    def _shutdown(self):
        # Tasks fetched but not started go back at once.
        release = []
        while True:
            try:
                task = self._ready.get_nowait()
            except queue.Empty:
                break
            if task is None:
                continue
            release.append(task["id"])
            with self._lock:
                self._busy -= 1
        deadline = time.monotonic() + self.grace
        with self._lock:
            while self._running_count(release) and time.monotonic() < deadline:
                self._slots.wait(min(0.1, max(0.0, deadline - time.monotonic())))
            running = [ctx for tid, ctx in self._held.items() if tid not in release and not self._has_outcome(tid)]
        for ctx in running:
            ctx._stop("worker stopping")
        self._flush_outcomes()
        with self._lock:
            leases = [{"id": tid, "token": ctx.token} for tid, ctx in self._held.items()]
            self._held.clear()
        try:
            self.client.request("POST", "/api/v1/worker/deregister", {"workerId": self.worker_id, "release": leases})
        except (AetherError, OSError) as error:
            self._log("deregister failed: %s" % (error,))
        for _ in range(self.concurrency):
            self._ready.put(None)
        self._log("stopped %s (%d released)" % (self.worker_id, len(leases)))

    def _running_count(self, released):
        return sum(1 for tid in self._held if tid not in released and not self._has_outcome(tid))

    def _has_outcome(self, task_id):
        return any(item["id"] == task_id for item in self._outcomes)

    # -- fetching -----------------------------------------------------------------------------

    def _reserve(self, most):
        with self._lock:
            free = min(most, self._capacity - self._busy)
            if free > 0:
                self._busy += free
            return max(0, free)

    def _accept(self, tasks, reserved):
        """Queues fetched tasks on the reserved slots; frees the slots not used."""
        with self._lock:
            self._busy -= reserved - len(tasks)
            for task in tasks:
                self._held[task["id"]] = TaskContext(self, task)
            self._slots.notify_all()
        for task in tasks:
            self._ready.put(task)

    def _fetch_loop(self):
        while not self._stopping.is_set():
            with self._lock:
                # Leave refills to the completer while tasks run; fetch here when idle or half free.
                while not self._stopping.is_set() and not (
                    self._busy == 0 or self._capacity - self._busy >= max(1, self._capacity // 2)
                ):
                    self._slots.wait(0.2)
            if self._stopping.is_set():
                return
            reserved = self._reserve(self.batch)
            if not reserved:
                continue
            try:
                _, answer = self.client.request(
                    "POST", "/api/v1/worker/fetch",
                    {"workerId": self.worker_id, "limit": reserved, "waitMillis": int(self.fetch_wait * 1000)},
                    timeout=self.fetch_wait + 30,
                )
                tasks = answer["tasks"]
            except AetherError as error:
                self._accept([], reserved)
                if self._stopping.is_set():
                    return
                if error.status == 404 and error.body.get("details", {}).get("reason") == "unknown-worker":
                    self._log("the server forgot this worker (heartbeat timeout?); registering again")
                    self._register()
                    continue
                self._log("fetch failed: %s" % (error,))
                self._stopping.wait(1.0)
                continue
            except OSError as error:
                self._accept([], reserved)
                self._log("fetch failed: %s" % (error,))
                self._stopping.wait(1.0)
                continue
            if self._stopping.is_set():
                self._accept([], reserved)
                self._give_back(tasks)
                return
            self._accept(tasks, reserved)

    def _give_back(self, tasks):
        if not tasks:
            return
        items = [{"outcome": "released", "id": t["id"], "token": t["token"]} for t in tasks]
        try:
            self.client.request("POST", "/api/v1/worker/complete", {"outcomes": items})
        except (AetherError, OSError) as error:
            self._log("release failed (the lease will expire): %s" % (error,))

    # -- running ------------------------------------------------------------------------------

    def _execute(self):
        while True:
            task = self._ready.get()
            if task is None:
                return
            with self._lock:
                ctx = self._held.get(task["id"])
            if ctx is None:
                continue
            ctx._started_at = time.monotonic()
            item = self._run_one(task, ctx)
            with self._lock:
                self._busy -= 1
                if not ctx._timed_out:  # else its failure was reported when the time ran out
                    self._outcomes.append(item)
                    self._have_outcomes.notify()
                self._slots.notify()

    def _watchdog_loop(self):
        """Fails attempts that run past their task's timeout (the handler's thread runs on)."""
        while not self._finished.wait(WATCHDOG_TICK):
            now = time.monotonic()
            with self._lock:
                for ctx in list(self._held.values()):
                    limit = ctx.timeout_millis
                    if ctx._timed_out or ctx._started_at is None or limit is None:
                        continue
                    if (now - ctx._started_at) * 1000 >= limit and not self._has_outcome(ctx.task_id):
                        ctx._timed_out = True
                        ctx._stop("timeout")
                        self._outcomes.append({
                            "outcome": "failed", "id": ctx.task_id, "token": ctx.token,
                            "error": {"message": "Timed out after %d ms (attempt %d)" % (limit, ctx.attempt)},
                        })
                        self._have_outcomes.notify()

    def _run_one(self, task, ctx):
        base = {"id": task["id"], "token": task["token"]}
        handler = self.handlers.get(task["name"])
        if handler is None:
            return dict(base, outcome="released")
        try:
            args = task.get("args")
            result = handler(args, ctx) if self._arity[task["name"]] >= 2 else handler(args)
            try:
                json.dumps(result)
            except (TypeError, ValueError) as error:
                raise PermanentError("the handler returned a value that is not JSON: %s" % (error,))
            return dict(base, outcome="completed", result=result)
        except PermanentError as error:
            return dict(base, outcome="failed", error=_error(error), retryable=False)
        except Exception as error:  # noqa: BLE001 - a handler's failure is the task's
            return dict(base, outcome="failed", error=_error(error))

    # -- completing ---------------------------------------------------------------------------

    def _complete_loop(self):
        while not self._finished.is_set():
            with self._lock:
                while not self._outcomes and not self._finished.is_set():
                    self._have_outcomes.wait(0.5)
            self._flush_outcomes(refill=not self._stopping.is_set())

    def _flush_outcomes(self, refill=False):
        with self._lock:
            items = self._outcomes[:1000]
            if not items:
                return
        reserved = self._reserve(self.batch) if refill else 0
        body = {"workerId": self.worker_id, "outcomes": items}
        if reserved:
            body["fetch"] = {"limit": reserved}
        try:
            _, answer = self.client.request("POST", "/api/v1/worker/complete", body)
        except (AetherError, OSError) as error:
            self._accept([], reserved)
            self._log("complete failed (will retry): %s" % (error,))
            if isinstance(error, AetherError) and error.status < 500 and error.status not in (404, 408, 429):
                with self._lock:
                    self._drop(items)
            else:
                self._stopping.wait(0.5)
            return
        for result in answer["results"]:
            if not result["ok"]:
                current = result.get("current") or {}
                self._log("outcome of %s refused (%s): %s" % (result["id"], current.get("status"), result["error"]))
        with self._lock:
            self._drop(items)
            self.completed += sum(1 for item in items if item["outcome"] == "completed")
        self._accept(answer.get("tasks", []), reserved)

    def _drop(self, items):
        sent = set(id(item) for item in items)
        self._outcomes[:] = [item for item in self._outcomes if id(item) not in sent]
        for item in items:
            self._held.pop(item["id"], None)
        self._slots.notify_all()

    # -- heartbeats ---------------------------------------------------------------------------

    def _heartbeat_loop(self):
        while not self._finished.wait(self._heartbeat_interval):
            with self._lock:
                leases = [{"id": tid, "token": ctx.token} for tid, ctx in self._held.items()]
            try:
                _, answer = self.client.request(
                    "POST", "/api/v1/worker/heartbeat", {"workerId": self.worker_id, "tasks": leases})
            except AetherError as error:
                if error.status == 404:
                    # Taken for gone: every held task was taken back; stop working on them.
                    with self._lock:
                        for ctx in self._held.values():
                            ctx._stop("lease lost")
                self._log("heartbeat failed: %s" % (error,))
                continue
            except OSError as error:
                self._log("heartbeat failed: %s" % (error,))
                continue
            with self._lock:
                for tid in answer["cancelled"]:
                    if tid in self._held:
                        self._held[tid]._stop("cancelled")
                for tid in answer["lost"]:
                    if tid in self._held:
                        self._held[tid]._stop("lease lost")

    def _task_call(self, ctx, action, body):
        try:
            self.client.request("POST", "/api/v1/worker/tasks/%s/%s" % (urllib.parse.quote(ctx.task_id, safe=""), action), body)
        except AetherError as error:
            if error.status == 409:
                ctx._stop("lease lost")
            raise


def _error(error):
    return {"message": str(error) or type(error).__name__,
            "stack": "".join(traceback.format_exception(type(error), error, error.__traceback__))[-20000:]}


def _arity(fn):
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 2
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 2
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
