// A `process` client for examples/systems/testkv.py, in JavaScript (Node's standard library only).
// The suite starts one per load user and speaks JSON lines on stdin/stdout
// (docs/testing-your-system.md, "A client in any language"):
//   in:  {"type":"init","endpoints":["127.0.0.1:8080"],"start":0,"timeout":1.0,...}   out: {"type":"init_ok"}
//   in:  {"type":"op","id":1,"f":"write","key":"k","value":3}                           out: {"id":1,"type":"ok"}
'use strict';
const http = require('http');
const readline = require('readline');

let endpoints = [];
let current = 0;
let timeoutMs = 1000;
const agent = new http.Agent({keepAlive: true, maxSockets: 1});

function reply(msg) {
  process.stdout.write(JSON.stringify(msg) + '\n');
}

// One HTTP request to the current node. Resolves {status, body}; rejects with
// {definite: true} when nothing was sent, {definite: false} when it may have been applied.
function request(method, path, body) {
  const [host, port] = endpoints[current % endpoints.length].split(':');
  const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request({host, port: Number(port), method, path, agent,
                              headers: data ? {'Content-Type': 'application/json', 'Content-Length': data.length} : {}},
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let parsed = null;
          try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = null; }
          resolve({status: res.statusCode, body: parsed});
        });
      });
    req.setTimeout(timeoutMs * 0.8, () => req.destroy(new Error('timeout')));  // give up before the suite does
    // Refused: the request never left. Any other error (reset, timeout) may come after the server applied it.
    req.on('error', (e) => reject({definite: e.code === 'ECONNREFUSED', error: e.code || e.message}));
    if (data) req.write(data);
    req.end();
  });
}

async function perform(op) {
  const path = '/kv/' + encodeURIComponent(op.key);
  const node = endpoints[current % endpoints.length];
  try {
    let r;
    switch (op.f) {
      case 'read':
      case 'get':
        r = await request('GET', path);
        if (r.status === 404) return {type: 'ok', value: null, node};
        if (r.status === 200) return {type: 'ok', value: r.body.value, node};
        break;
      case 'write':
      case 'put':
        r = await request('PUT', path, {value: op.value});
        if (r.status === 200) return {type: 'ok', node};
        break;
      case 'delete':
        r = await request('DELETE', path);
        if (r.status === 200) return {type: 'ok', node};
        break;
      case 'cas':
        r = await request('POST', path + '/cas', {expected: op.expected, new: op.new});
        if (r.status === 200) return {type: 'ok', node};
        if (r.status === 409) return {type: 'mismatch', node};
        break;
      default:
        return {type: 'fail', error: 'unsupported', node};  // nothing was sent
    }
    // 4xx: refused before anything happened; anything else may have been applied
    return r.status < 500 ? {type: 'fail', error: 'http-' + r.status, node} : {type: 'info', error: 'http-' + r.status, node};
  } catch (e) {
    if (e.definite) {
      current += 1;  // next time, the next node; no retry here: the suite paces the load
      return {type: 'fail', error: e.error, node};
    }
    return {type: 'info', error: e.error, node};
  }
}

const lines = readline.createInterface({input: process.stdin});
let queue = Promise.resolve();
lines.on('line', (line) => {
  if (!line.trim()) return;
  const msg = JSON.parse(line);
  queue = queue.then(async () => {  // one operation at a time, in order
    if (msg.type === 'init') {
      endpoints = msg.endpoints;
      current = msg.start || 0;
      timeoutMs = (msg.timeout || 1) * 1000;
      reply({type: 'init_ok'});
    } else {
      reply({id: msg.id, ...(await perform(msg))});
    }
  });
});
lines.on('close', () => { queue.then(() => process.exit(0)); });
