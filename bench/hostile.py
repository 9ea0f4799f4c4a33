#!/usr/bin/env python3
"""A victim org's produce latency alone, then while a hostile org (its key
limited to RATE requests/s) sends the worst inputs of the hardening issue on
8 connections (docs/benchmarks.md, "Hostile tenant").
With "control" the 8 connections send harmless GET /healthz instead, in
the same pattern (new connections where the attack opens them): what any
load of that shape costs the victim on this machine.
usage: hostile.py BIN SECONDS [RATE] [control]"""
import http.client, json, socket, subprocess, sys, tempfile, threading, time

bin_, secs = sys.argv[1], float(sys.argv[2])
rate = float(sys.argv[3]) if len(sys.argv) > 3 else 1000
control = len(sys.argv) > 4 and sys.argv[4] == 'control'
d = tempfile.mkdtemp()
p = subprocess.Popen([bin_, 'serve', '--listen', '127.0.0.1:0', '--data-dir', d,
                      '--bootstrap-key', 'k', '--log-level', 'error', '--header-timeout-ms', '3000'],
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
port = int(p.stdout.readline().decode().split(':')[-1])


def req(c, key, m, path, body=None):
    h = {'X-API-Key': key, 'Content-Type': 'application/json'}
    c.request(m, path, body=json.dumps(body) if body is not None else None, headers=h)
    r = c.getresponse()
    return r.status, r.read()


c = http.client.HTTPConnection('127.0.0.1', port)
keys = {}
for org, extra in (('victim', {}), ('hostile', {'rate_limit_per_s': rate})):
    s, b = req(c, 'k', 'POST', '/api/v1/admin/api-keys', dict(org_id=org, name=org, **extra))
    keys[org] = json.loads(b)['api_key']
V, H = keys['victim'], keys['hostile']
req(c, V, 'POST', '/api/v1/streams', {'name': 'orders'})
req(c, H, 'POST', '/api/v1/streams', {'name': 'h', 'schema': {
    'type': 'object', 'properties': {'s': {'type': 'string', 'pattern': '(a|b)*a(a|b){1000}c'}}}})


def exponential(levels):
    defs = {'d0': {'type': 'object'}}
    for k in range(1, levels + 1):
        ref = {'$ref': '#/definitions/d%d' % (k - 1)}
        defs['d%d' % k] = {'allOf': [ref, ref]}
    return {'definitions': defs, '$ref': '#/definitions/d%d' % levels}


def raw(data):
    try:
        s = socket.create_connection(('127.0.0.1', port), timeout=5)
        s.sendall(data)
        while s.recv(65536):
            pass
        s.close()
    except OSError:
        pass


def victim_run(duration):
    lat = []
    v = http.client.HTTPConnection('127.0.0.1', port)
    end = time.time() + duration
    while time.time() < end:
        t0 = time.time()
        s, _ = req(v, V, 'POST', '/api/v1/streams/orders/events', {'event_type': 'T', 'payload': {'i': 1}})
        lat.append((time.time() - t0) * 1000)
        assert s == 202, s
    lat.sort()
    q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]
    return {'requests': len(lat), 'p50_ms': round(q(0.5), 2), 'p99_ms': round(q(0.99), 2),
            'max_ms': round(lat[-1], 2)}


baseline = victim_run(secs)
stop = time.time() + secs + 0.5
statuses = {}


def hostile(n):
    h = http.client.HTTPConnection('127.0.0.1', port, timeout=15)
    big = {'event_type': 'T', 'payload': {'s': 'a' * 65536}}
    i = n
    while time.time() < stop:
        k = i % 8
        try:
            if control and k in (2, 3):
                raw(b'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
                s = 'control-raw'
            elif control:
                s, _ = req(h, H, 'GET', '/healthz')
            elif k == 0:
                s, _ = req(h, H, 'POST', '/api/v1/streams/h/events', big)
            elif k == 1:
                s, _ = req(h, H, 'POST', '/api/v1/streams', {'name': 'x%d' % i, 'schema': exponential(40)})
            elif k == 2:
                raw(b'POST /api/v1/streams/h/events/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 16777216\r\n\r\n')
                s = 'keyless'
            elif k == 3:
                raw(('POST /api/v1/streams/h/events HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\n'
                     'Transfer-Encoding: gzip\r\n\r\n' % H).encode())
                s = 'smuggle'
            elif k == 4:
                s, _ = req(h, H, 'GET', '/api/v1/streams/h/consumer-groups/g%d/events?timeout=1000' % i)
            elif k == 5:
                s, _ = req(h, H, 'POST', '/api/v1/streams/h/consumer-groups/g1/nack',
                           {'event_id': '00000000-0000-7000-8000-000000000000',
                            'reason': 'x\n2026-01-01T00:00:00.000Z error forged\x1b[2J'})
            elif k == 6:
                s, _ = req(h, H, 'PATCH', '/api/v1/streams/h',
                           {'retention': {'max_age_s': 18446744073709552}})
            else:
                s, _ = req(h, H, 'POST', '/api/v1/streams', {'name': 's%d' % i})
        except (OSError, http.client.HTTPException):
            h = http.client.HTTPConnection('127.0.0.1', port, timeout=15)
            s = 'reset'
        statuses[s] = statuses.get(s, 0) + 1
        i += 8


ts = [threading.Thread(target=hostile, args=(n,)) for n in range(8)]
for t in ts:
    t.start()
time.sleep(0.5)
attacked = victim_run(secs)
for t in ts:
    t.join()
p.terminate()
p.wait()
print(json.dumps({'control': control, 'baseline': baseline, 'attacked': attacked,
                  'hostile_rate_limit': rate,
                  'hostile_answers': {str(k): v for k, v in statuses.items()},
                  'p99_ratio': round(attacked['p99_ms'] / baseline['p99_ms'], 2)}))
