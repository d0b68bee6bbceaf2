"""The same queue workloads as `cargo xtask bench queue`, on persist-queue's SQLiteAckQueue
(SQLite in WAL mode, one commit per operation): the kind of queue plexsync's Python
predecessor used. Run by `cargo xtask bench queue --compare`; prints one JSON object."""

import json
import os
import resource
import sys
import time

import persistqueue


def size_of(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(root, name))
    return total


def open_queue(path):
    return persistqueue.SQLiteAckQueue(path, auto_commit=True)


def throughput(path, jobs):
    q = open_queue(path)
    start = time.perf_counter()
    for i in range(jobs):
        q.put({"scene": i})
    enqueue = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(jobs):
        item = q.get(block=False)
        q.ack(item)
    drain = time.perf_counter() - start
    return {"enqueue_s": enqueue, "lease_ack_s": drain}


def enqueue_once(path):
    open_queue(path).put({"scene": 1})
    return {}


def fill(path, jobs):
    q = open_queue(path)
    for i in range(jobs):
        q.put({"scene": i})
    return {"bytes": size_of(path)}


def drain(path):
    q = open_queue(path)
    peak_bytes = size_of(path)
    drained = 0
    while True:
        try:
            item = q.get(block=False)
        except persistqueue.exceptions.Empty:
            break
        q.ack(item)
        drained += 1
        if drained % 1000 == 0:
            # Without this the acked rows stay in the table for ever.
            q.clear_acked_data(keep_latest=0)
            peak_bytes = max(peak_bytes, size_of(path))
    q.clear_acked_data(keep_latest=0)
    peak_rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"drained": drained, "peak_bytes": peak_bytes, "peak_rss_kib": peak_rss_kib}


if __name__ == "__main__":
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "throughput":
        result = throughput(path, int(sys.argv[3]))
    elif mode == "enqueue-once":
        result = enqueue_once(path)
    elif mode == "fill":
        result = fill(path, int(sys.argv[3]))
    elif mode == "drain":
        result = drain(path)
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(result))
