// A man in the middle for TLS 1.2 with AES-128-GCM: a TCP proxy that cuts both directions into
// records, and the record keys derived from a node:tls client's keylog, so a test can read, drop,
// forge or seal records between a real client and a server. Used by the hostile-peer suite and
// the parity scenarios.
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { listen, noop, pem, within } from './helpers.mjs';

// ---- TLS 1.2 record protection (AES-128-GCM, RFC 5246 + RFC 5288) ----

/** The TLS 1.2 PRF with SHA-256. */
export function prf(secret, label, seed, n) {
  const s = Buffer.concat([Buffer.from(label), seed]);
  const out = [];
  let a = s;
  for (let got = 0; got < n; ) {
    a = createHmac('sha256', secret).update(a).digest();
    const p = createHmac('sha256', secret)
      .update(Buffer.concat([a, s]))
      .digest();
    out.push(p);
    got += p.length;
  }
  return Buffer.concat(out).subarray(0, n);
}

/** Write keys and implicit IVs of both sides for AES-128-GCM. */
export function tls12Keys(master, clientRandom, serverRandom) {
  const kb = prf(master, 'key expansion', Buffer.concat([serverRandom, clientRandom]), 40);
  return {
    client: { key: kb.subarray(0, 16), iv: kb.subarray(32, 36) },
    server: { key: kb.subarray(16, 32), iv: kb.subarray(36, 40) },
  };
}

function aad(seq, type, length) {
  const a = Buffer.alloc(13);
  a.writeBigUInt64BE(BigInt(seq));
  a[8] = type;
  a.writeUInt16BE(0x0303, 9);
  a.writeUInt16BE(length, 11);
  return a;
}

/** A TLS 1.2 AES-128-GCM record of `type` carrying `plain`, sealed with sequence number `seq`. */
export function seal(k, type, seq, plain) {
  const explicit = Buffer.alloc(8);
  explicit.writeBigUInt64BE(BigInt(seq));
  const c = createCipheriv('aes-128-gcm', k.key, Buffer.concat([k.iv, explicit]));
  c.setAAD(aad(seq, type, plain.length));
  const ct = Buffer.concat([c.update(plain), c.final()]);
  const hdr = Buffer.from([type, 3, 3, 0, 0]);
  hdr.writeUInt16BE(8 + ct.length + 16, 3);
  return Buffer.concat([hdr, explicit, ct, c.getAuthTag()]);
}

/** The plaintext of a sealed record (throws if it does not authenticate). */
export function open(k, seq, rec) {
  const explicit = rec.subarray(5, 13);
  const ct = rec.subarray(13, rec.length - 16);
  const d = createDecipheriv('aes-128-gcm', k.key, Buffer.concat([k.iv, explicit]));
  d.setAAD(aad(seq, rec[0], ct.length));
  d.setAuthTag(rec.subarray(rec.length - 16));
  return Buffer.concat([d.update(ct), d.final()]);
}

// ---- the man in the middle ----

/** Splits a byte stream into TLS records. */
export function framer(onRecord) {
  let pending = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 5) {
      const len = 5 + pending.readUInt16BE(3);
      if (pending.length < len) break;
      const rec = pending.subarray(0, len);
      pending = pending.subarray(len);
      onRecord(rec);
    }
  };
}

/**
 * A TCP proxy on 127.0.0.1 for one connection to `port`. Both directions are cut into records;
 * `hooks.c2s(rec, p)` / `hooks.s2c(rec, p)` return what to forward (default: the record), null for
 * nothing. `p.c2s` / `p.s2c` list { rec, seq } (seq: the record's sequence number under the new
 * keys, counted from the ChangeCipherSpec; null before it). `p.up` is the socket to the server,
 * `p.down` the one to the client.
 */
export async function startProxy(port, hooks = {}) {
  const p = { c2s: [], s2c: [], clientRandom: null, serverRandom: null, up: null, down: null };
  let accepted;
  p.connected = new Promise((r) => {
    accepted = r;
  });
  const track = (list, rec, ccs) => {
    const seq = list.ccs ? list.next++ : null;
    if (rec[0] === 0x14) {
      list.ccs = true;
      list.next = 0;
    }
    list.push({ rec, seq });
    return ccs;
  };
  p.c2s.ccs = p.s2c.ccs = false;
  const server = net.createServer((down) => {
    server.close();
    p.down = down;
    down.on('error', noop);
    down.pause();
    const up = net.connect({ host: '127.0.0.1', port });
    p.up = up;
    up.on('error', noop);
    up.once('connect', () => {
      down.resume();
      accepted();
    });
    /** Frames what `from` sends into records, records and hooks each (`way`), passes it to `to`. */
    const relay = (from, to, way, helloType, random) =>
      from.on(
        'data',
        framer((rec) => {
          track(p[way], rec);
          if (rec[0] === 0x16 && rec[5] === helloType && !p[random])
            p[random] = Buffer.from(rec.subarray(11, 43));
          const out = hooks[way] ? hooks[way](rec, p) : rec;
          if (out && !to.destroyed) to.write(out);
        }),
      );
    relay(down, up, 'c2s', 1, 'clientRandom');
    relay(up, down, 's2c', 2, 'serverRandom');
    up.on('end', () => down.end());
    down.on('end', () => up.end());
    up.on('close', () => down.destroy());
    down.on('close', () => up.destroy());
  });
  p.port = await listen(server);
  p.close = () => {
    p.up?.destroy();
    p.down?.destroy();
    server.close();
  };
  return p;
}

/** The sequence number the next client record would carry (records after the client's CCS). */
export const nextClientSeq = (p) => p.c2s.next;

/**
 * A node:tls client (TLS 1.2, ECDHE-ECDSA-AES128-GCM-SHA256) through the proxy `p`, after its
 * handshake: { c, keys } with the record keys of both sides, from the client's keylog.
 */
export async function keylogClient(p) {
  let master = null;
  const c = tls.connect({
    port: p.port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: pem('ca.crt'),
    maxVersion: 'TLSv1.2',
    ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  });
  c.on('keylog', (line) => {
    const m = /^CLIENT_RANDOM (\S+) (\S+)/.exec(String(line));
    if (m) master = Buffer.from(m[2], 'hex');
  });
  c.on('error', noop);
  await within(new Promise((r) => c.once('secureConnect', r)), 5000, 'node:tls through the proxy');
  if (c.getProtocol() !== 'TLSv1.2' || master === null) {
    c.destroy();
    throw new Error(`no TLS 1.2 keylog through the proxy (${c.getProtocol()})`);
  }
  return { c, keys: tls12Keys(master, p.clientRandom, p.serverRandom) };
}

/**
 * A proxy to `port` (startProxy()) that, once `flipNext()` is called, flips `bit` in the 20th byte
 * from the end of the next application-data record going `way` ('c2s' or 's2c'): a record whose
 * authentication must then fail. Every other record passes unchanged.
 */
export async function flipProxy(port, way, bit) {
  let armed = false;
  const p = await startProxy(port, {
    [way](rec) {
      if (!armed || rec[0] !== 0x17) return rec;
      armed = false;
      const bad = Buffer.from(rec);
      bad[bad.length - 20] ^= bit;
      return bad;
    },
  });
  p.flipNext = () => {
    armed = true;
  };
  return p;
}
