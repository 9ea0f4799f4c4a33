#!/usr/bin/env python3
"""Victim latency while a hostile org sends costly-pattern validations
(docs/benchmarks.md, "Validation budgets").
usage: validation_stall.py BIN SECONDS HOSTILE_CONNS PAYLOAD_BYTES"""
import http.client, json, os, subprocess, sys, tempfile, threading, time
bin_, secs, conns, size = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
d = tempfile.mkdtemp()
p = subprocess.Popen([bin_, 'serve', '--listen', '127.0.0.1:0', '--data-dir', d, '--bootstrap-key', 'k', '--log-level', 'warn'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
port = int(p.stdout.readline().decode().split(':')[-1])
H = {'X-API-Key': 'k', 'Content-Type': 'application/json'}
def req(c, m, path, body=None):
    c.request(m, path, body=json.dumps(body) if body is not None else None, headers=H)
    r = c.getresponse(); data = r.read(); return r.status, data
c = http.client.HTTPConnection('127.0.0.1', port)
print(req(c, 'POST', '/api/v1/streams', {'name': 'bad', 'schema': {'type': 'object', 'properties': {'s': {'type': 'string', 'pattern': '(a|b)*a(a|b){1000}c'}}}})[0])
print(req(c, 'POST', '/api/v1/streams', {'name': 'victim'})[0])
stop = time.time() + secs
hostile_status = {}
def hostile():
    h = http.client.HTTPConnection('127.0.0.1', port)
    body = {'event_type': 'T', 'payload': {'s': 'a' * size}}
    while time.time() < stop:
        s, _ = req(h, 'POST', '/api/v1/streams/bad/events', body)
        hostile_status[s] = hostile_status.get(s, 0) + 1
ts = [threading.Thread(target=hostile) for _ in range(conns)]
for t in ts: t.start()
lat = []
v = http.client.HTTPConnection('127.0.0.1', port)
time.sleep(0.2)
while time.time() < stop:
    t0 = time.time(); s, _ = req(v, 'POST', '/api/v1/streams/victim/events', {'event_type': 'T', 'payload': {'i': 1}}); lat.append((time.time() - t0) * 1000)
    assert s == 202, s
for t in ts: t.join()
p.terminate(); p.wait()
lat.sort()
q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]
print(json.dumps({'victim_requests': len(lat), 'p50_ms': round(q(0.5), 2), 'p99_ms': round(q(0.99), 2), 'max_ms': round(lat[-1], 2), 'hostile': hostile_status}))
