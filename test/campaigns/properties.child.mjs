// The property loops of test/campaigns/properties.test.mjs, run in a child process (a crash kills only the
// child): `run({ group, seed, numRuns })` checks with fast-check that every public function and
// method, given any value in any argument position, returns, throws a TypeError / RangeError /
// TlsError, or rethrows the exception a hostile argument itself threw (a throwing getter or
// callback) - never another error class, a V8-internal TypeError (a bug in our own code), a crash
// or a hang. It prints one `REPORT {json}` line with the outcome counts per call.
//
// Safety: no fd value of this process (0..1023, which covers stdio and everything open here)
// ever reaches an fd argument: fd positions get closed numbers >= 1024 or fds this file made for
// the run (socketpairs, a temporary file). Host arguments are numeric loopback addresses only (no
// DNS); ports are the ports of servers this child runs, or invalid.
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Duplex, PassThrough } from 'node:stream';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { clientConfig, L, pairHandshake, pem, pki, serverConfig } from '../support/helpers.mjs';

// ---- outcomes ----

/** What a hostile argument throws (a getter, a trap, a callback): it must come back unchanged. */
class Boom extends Error {
  constructor(where = 'hostile') {
    super(`boom from ${where}`);
    this.name = 'Boom';
  }
}

const INTERNAL_TYPE_ERROR =
  /Cannot read propert|Cannot set propert|is not a function|is not iterable|is not a constructor|Cannot convert|Cannot destructure|Cannot mix BigInt|Invalid array length/;

const counts = {};
function count(name, outcome) {
  counts[name] ??= {};
  counts[name][outcome] = (counts[name][outcome] ?? 0) + 1;
}

const messages = {};
/** The class of an exception from `name`; throws (failing the property) for a forbidden one. */
function classify(name, err, allowed) {
  if (process.env.LIBTLS_PROPS_DEBUG) {
    const k = `${name}: ${err?.name} ${String(err?.message).slice(0, 90)}`;
    messages[k] = (messages[k] ?? 0) + 1;
  }
  if (err instanceof Boom) return 'Boom';
  if (err instanceof L.TlsError) {
    if (typeof err.op !== 'string' || err.op === '' || typeof err.message !== 'string' || !err.message) {
      throw new Error(`${name}: a TlsError without op or message: ${err.stack}`);
    }
    return 'TlsError';
  }
  if (err instanceof RangeError) {
    if (/Maximum call stack/.test(err.message)) throw new Error(`${name}: stack overflow: ${err.stack}`);
    return 'RangeError';
  }
  if (err instanceof TypeError) {
    if (INTERNAL_TYPE_ERROR.test(err.message) && !/NUL|must/.test(err.message)) {
      throw new Error(`${name}: an internal TypeError, not a validation error: ${err.stack}`);
    }
    return 'TypeError';
  }
  const other = allowed?.(err);
  if (other) return other;
  throw new Error(`${name}: threw ${err?.constructor?.name ?? typeof err}: ${err?.stack ?? err}`);
}

/** Bounds a promise: rejects with a 'hang' Error (failing the property) after `ms`. */
function bounded(p, ms, what) {
  let timer;
  return Promise.race([
    p,
    new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(Object.assign(new Error(`${what}: hang (${ms} ms)`), { hang: true })),
        ms,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Calls `fn`, records its outcome under `name`; returns { value } or { error }. */
async function attempt(name, fn, { allowed, ms = 5000, onValue } = {}) {
  let value;
  try {
    value = fn();
  } catch (err) {
    count(name, classify(name, err, allowed));
    return { error: err };
  }
  if (value !== null && typeof value === 'object' && typeof value.then === 'function') {
    try {
      value = await bounded(value, ms, name);
    } catch (err) {
      if (err?.hang) throw err;
      count(name, classify(name, err, allowed));
      return { error: err };
    }
  }
  count(name, 'ok');
  onValue?.(value);
  return { value };
}

// ---- values ----

/** fast-check prints this instead of touching a hostile value. */
const label = (v, text) => {
  try {
    Object.defineProperty(v, fc.toStringMethod, { value: () => text });
  } catch {}
  return v;
};

/** fast-check's own symbols: a hostile value answers them, so only the code under test gets Boom. */
const FC_SYMBOLS = new Set([fc.toStringMethod, fc.asyncToStringMethod, fc.cloneMethod]);

function hostileProxy(target, text) {
  return new Proxy(target, {
    get(_t, k) {
      if (k === fc.toStringMethod) return () => text;
      if (FC_SYMBOLS.has(k)) return undefined;
      throw new Boom(`${text} get ${String(k)}`);
    },
    has(_t, k) {
      if (FC_SYMBOLS.has(k)) return k === fc.toStringMethod;
      throw new Boom(`${text} has`);
    },
    ownKeys() {
      throw new Boom(`${text} ownKeys`);
    },
    getOwnPropertyDescriptor() {
      throw new Boom(`${text} getOwnPropertyDescriptor`);
    },
    getPrototypeOf() {
      throw new Boom(`${text} getPrototypeOf`);
    },
    apply() {
      throw new Boom(`${text} apply`);
    },
  });
}

/** A revoked Proxy (every operation on it throws a TypeError; fast-check cannot print one). */
function revokedProxy() {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

function detachedU8() {
  const ab = new ArrayBuffer(8);
  const u8 = new Uint8Array(ab);
  structuredClone(ab, { transfer: [ab] });
  return label(u8, 'detached Uint8Array');
}

function resizableU8() {
  const ab = new ArrayBuffer(8, { maxByteLength: 64 });
  return label(new Uint8Array(ab), 'length-tracking Uint8Array');
}

const HUGE = 'x'.repeat(1 << 20);

/** Values no public argument expects, plus edge numbers, hostile objects and odd byte containers. */
const oddValues = [
  -1,
  0,
  -0,
  1.5,
  2 ** 31,
  2 ** 31 - 1,
  2 ** 32,
  2 ** 53,
  -(2 ** 31),
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  Number.EPSILON,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  0n,
  -1n,
  2n ** 64n,
  '',
  '\0',
  'a\0b',
  HUGE,
  `${HUGE}\0`,
  '\u{1F600}\uD800',
  Symbol('s'),
  Symbol.iterator,
  null,
  undefined,
  true,
  false,
  [],
  [[]],
  {},
  label(Object.create(null), 'null-prototype object'),
  new Uint8Array(0),
  label(new Uint8Array(1 << 20), 'Uint8Array(1 MiB)'),
  Buffer.from('abc'),
  new Uint8ClampedArray(4),
  new Int8Array(4),
  new Uint16Array(4),
  new Int32Array(4),
  new Float32Array(2),
  new Float64Array(2),
  new BigInt64Array(1),
  new BigUint64Array(1),
  new DataView(new ArrayBuffer(8)),
  new ArrayBuffer(8),
  new SharedArrayBuffer(8),
  label(new Uint8Array(new SharedArrayBuffer(16)), 'Uint8Array(SharedArrayBuffer)'),
  detachedU8(),
  resizableU8(),
  new Date(0),
  new Date(Number.NaN),
  /re/g,
  new Map([[1, 2]]),
  new Set([1]),
  new WeakMap(),
  Promise.resolve(1),
  new Error('an error as a value'),
  label(() => 1, 'arrow () => 1'),
  label(async () => 1, 'async () => 1'),
  label(function* () {}, 'generator function'),
  label(class {}, 'class {}'),
  Math.max,
  label(
    {
      get fd() {
        throw new Boom('fd getter');
      },
      get length() {
        throw new Boom('length getter');
      },
    },
    'object with throwing getters',
  ),
  label(
    {
      toString() {
        throw new Boom('toString');
      },
      valueOf() {
        throw new Boom('valueOf');
      },
    },
    'object with throwing toString/valueOf',
  ),
  label(
    {
      [Symbol.toPrimitive]() {
        throw new Boom('toPrimitive');
      },
    },
    'object with a throwing Symbol.toPrimitive',
  ),
  label(
    {
      get constructor() {
        throw new Boom('constructor getter');
      },
    },
    'object with a throwing constructor getter',
  ),
  label({ constructor: { name: Symbol('n') } }, 'object whose constructor.name is a Symbol'),
  label({ constructor: null }, 'object with constructor null'),
  hostileProxy({}, 'hostile Proxy'),
  hostileProxy(() => {}, 'hostile callable Proxy'),
  new Proxy(new Uint8Array(4), {}),
  new String('boxed'),
  new Number(3),
  new Boolean(false),
  Object(Symbol('boxed')),
  Object(5n),
  globalThis,
  process,
];

/** The open-or-ours fd range: nothing in it may reach an fd argument unless made for the run. */
const isOurFdRange = (v) => Number.isInteger(v) && v >= 0 && v < 1024;
function fdSafe(v) {
  if (isOurFdRange(v)) return false;
  if (v !== null && typeof v === 'object') {
    try {
      const d = Object.getOwnPropertyDescriptor(v, 'fd');
      if (d && 'value' in d && isOurFdRange(d.value)) return false;
    } catch {}
  }
  return true;
}

/** A placeholder resolved when the run starts (an fd made for it, the context under test, ...). */
class Token {
  constructor(name) {
    this.name = name;
  }
  [fc.toStringMethod]() {
    return `<${this.name}>`;
  }
}
const anything = fc.anything({
  maxDepth: 2,
  maxKeys: 4,
  withBigInt: true,
  withBoxedValues: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withDate: true,
  withTypedArray: true,
  withSparseArray: true,
  withObjectString: true,
  stringUnit: 'binary',
});

/** Any value at all (fd-safe: see the header). */
const weird = fc
  .oneof(
    { weight: 3, arbitrary: anything },
    { weight: 3, arbitrary: fc.constantFrom(...oddValues) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).map((s) => `${s}\0${s}`) },
    { weight: 1, arbitrary: fc.func(anything) },
    { weight: 1, arbitrary: fc.integer({ min: 1024, max: 2 ** 31 - 1 }) },
    { weight: 1, arbitrary: fc.double() },
    { weight: 1, arbitrary: fc.bigInt() },
    { weight: 1, arbitrary: fc.constant(new Token('revokedProxy')) },
  )
  .filter(fdSafe);

const tok = (...names) => fc.constantFrom(...names.map((n) => new Token(n)));

/** `near` (values close to valid, as an arbitrary or a list) or anything, per argument position. */
const arg = (near) =>
  fc.oneof(
    { weight: 4, arbitrary: Array.isArray(near) ? fc.constantFrom(...near) : near },
    { weight: 1, arbitrary: weird },
  );

/** Inside option records: mostly near-valid, so that whole records pass often enough. */
const rare = (near) =>
  fc.oneof(
    { weight: 12, arbitrary: Array.isArray(near) ? fc.constantFrom(...near) : near },
    { weight: 1, arbitrary: weird },
  );

/** An argument list for a call taking `positions`: mostly all of them, else fewer or one more. */
const args = (...positions) =>
  fc
    .tuple(
      ...positions.map((p) => arg(p)),
      weird,
      fc.oneof(
        { weight: 3, arbitrary: fc.constant(positions.length) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: positions.length + 1 }) },
      ),
    )
    .map((t) => t.slice(0, t.at(-1)));

// ---- fixtures ----

const tmp = mkdtempSync(path.join(os.tmpdir(), 'libtls-'));
const tmpFile = path.join(tmp, 'data.bin');
writeFileSync(tmpFile, Buffer.alloc(64 * 1024, 0x61));
const sessionFile = path.join(tmp, 'session');
writeFileSync(sessionFile, '', { mode: 0o600 });

const flip = (b, i) => {
  const c = Buffer.from(b);
  if (c.length) c[i % c.length] ^= 0xff;
  return c;
};
const pems = [
  'ca.crt',
  'server.crt',
  'server.key',
  'client.crt',
  'other.key',
  'server-chain.pem',
  'crl.pem',
  'encrypted.key',
].map((n) => pem(n));
const ders = [
  'ocsp-good.der',
  'ocsp-revoked.der',
  'ocsp-stale.der',
  'ocsp-other.der',
  'ocsp-garbage.der',
].map((n) => pem(n));
const bytesNear = fc.oneof(
  fc.constantFrom(...pems, ...pems.map(String), ...ders),
  fc.tuple(fc.constantFrom(...pems, ...ders), fc.nat()).map(([b, i]) => flip(b, i)),
  fc.tuple(fc.constantFrom(...pems, ...ders), fc.nat()).map(([b, i]) => b.subarray(0, i % (b.length + 1))),
  fc.uint8Array({ maxLength: 512 }),
  fc.constantFrom('-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----\n', '-----BEGIN', ''),
);
const paths = [
  pki('ca.crt'),
  pki('server.crt'),
  pki('server.key'),
  pki('crl.pem'),
  pki('ocsp-good.der'),
  pki('encrypted.key'),
  path.dirname(pki('ca.crt')),
  '/nonexistent/libtls-test',
  tmp,
  tmpFile,
  '/dev/null',
  'relative/path',
];
const ints = [0, 1, 2, 5, 100, 7200, 65535, 2 ** 31 - 1, 2 ** 32 - 1, -1, 1.5, Number.NaN];

// ---- group: Config ----

const OPTION_NEAR = {
  ca: bytesNear,
  caFile: fc.constantFrom(...paths),
  caPath: fc.constantFrom(...paths),
  cert: bytesNear,
  certFile: fc.constantFrom(...paths),
  key: bytesNear,
  keyFile: fc.constantFrom(...paths),
  keypairs: fc.array(
    fc.oneof(
      fc.record(
        { cert: arg(bytesNear), key: arg(bytesNear), ocspStaple: arg(bytesNear) },
        { requiredKeys: [] },
      ),
      fc.constant({ cert: pem('server.crt'), key: pem('server.key'), extra: 1 }),
      weird,
    ),
    { maxLength: 3 },
  ),
  alpn: fc.constantFrom(
    'h2',
    'h2,http/1.1',
    ['h2', 'http/1.1'],
    'a,,b',
    ['a,b'],
    'x'.repeat(256),
    [],
    [''],
    Array(300).fill('y'.repeat(255)),
  ),
  protocols: fc.constantFrom(
    L.TLS_v12,
    L.TLS_v13,
    L.TLS_v1x,
    'secure',
    'all',
    'tlsv1.1,tlsv1.3',
    'nonsense',
    [L.TLS_v12, 'tlsv1.3'],
    [],
    0,
    0xffff,
    -1,
  ),
  ciphers: fc.constantFrom(
    'secure',
    'default',
    'SECURE',
    'ALL',
    'legacy',
    'compat',
    'garbage',
    'NULL',
    'aNULL',
    'ECDHE+AESGCM',
  ),
  ecdheCurves: fc.constantFrom('X25519', 'X25519,P-256', ['X25519', 'P-256'], 'nope', ['a,b'], [], 'default'),
  dheParams: fc.constantFrom('none', 'auto', 'legacy', 'bogus'),
  crl: bytesNear,
  crlFile: fc.constantFrom(...paths),
  verifyDepth: fc.constantFrom(...ints),
  verifyClient: fc.constantFrom(true, false, 'optional', 'maybe'),
  ocspStaple: bytesNear,
  ocspRequireStapling: fc.constantFrom(true, false),
  insecure: fc.record(
    { noVerifyCert: arg([true, false]), noVerifyName: arg([true, false]), noVerifyTime: arg([true, false]) },
    { requiredKeys: [] },
  ),
  sessionLifetime: fc.constantFrom(...ints),
  sessionId: fc.uint8Array({ maxLength: 40 }),
  ticketKeys: fc.array(
    fc.oneof(
      fc.record(
        { keyrev: arg(ints), key: arg(fc.uint8Array({ minLength: 47, maxLength: 49 })) },
        { requiredKeys: [] },
      ),
      weird,
    ),
    { maxLength: 2 },
  ),
  sessionFd: tok('sessionFd', 'socketFd', 'closedFd'),
  preferCiphers: fc.constantFrom('client', 'server', 'both'),
};

/** Config options: the real keys with near-valid or odd values, sometimes an unknown key. */
const configOptions = fc.oneof(
  { weight: 1, arbitrary: weird },
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.record(Object.fromEntries(Object.entries(OPTION_NEAR).map(([k, near]) => [k, arg(near)])), {
          requiredKeys: [],
        }),
        fc.option(fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), weird), { freq: 8 }),
      )
      .map(([o, extra]) => (extra ? { ...o, [extra[0]]: extra[1] } : o)),
  },
);

const SETTERS = {
  setAlpn: [OPTION_NEAR.alpn],
  setCaFile: [paths],
  setCaPath: [paths],
  setCa: [bytesNear],
  setCertFile: [paths],
  setCert: [bytesNear],
  setCiphers: [OPTION_NEAR.ciphers],
  setCrlFile: [paths],
  setCrl: [bytesNear],
  setKeyFile: [paths],
  setKey: [bytesNear],
  setKeypairFile: [paths, paths, paths],
  setKeypair: [bytesNear, bytesNear, bytesNear],
  addKeypairFile: [paths, paths, paths],
  addKeypair: [bytesNear, bytesNear, bytesNear],
  setOcspStaple: [bytesNear],
  setOcspStapleFile: [paths],
  setProtocols: [OPTION_NEAR.protocols, OPTION_NEAR.protocols, OPTION_NEAR.protocols],
  insecureNoVerifyCert: [],
  insecureNoVerifyName: [],
  insecureNoVerifyTime: [],
  verify: [],
  verifyClient: [],
  verifyClientOptional: [],
  clearKeys: [],
  preferCiphersClient: [],
  preferCiphersServer: [],
  setDheparams: [OPTION_NEAR.dheParams],
  setEcdhecurve: [fc.constantFrom('X25519', 'P-256', 'nope', 'X25519,P-256')],
  setEcdhecurves: [OPTION_NEAR.ecdheCurves],
  setSessionId: [OPTION_NEAR.sessionId],
  setSessionLifetime: [ints],
  addTicketKey: [ints, fc.uint8Array({ minLength: 47, maxLength: 49 })],
  setSessionFd: [OPTION_NEAR.sessionFd],
  ocspRequireStapling: [],
  setVerifyDepth: [ints],
  free: [],
};

const configCall = fc.oneof(
  ...Object.entries(SETTERS).map(([m, pos]) => fc.tuple(fc.constant(m), args(...pos))),
  fc.tuple(fc.constant('dispose'), args()),
  fc.tuple(fc.constant('client'), args(tok('config', 'freedConfig'))),
  fc.tuple(fc.constant('server'), args(tok('config', 'freedConfig'))),
);

/** The prototype of `v`, or undefined when asking throws (a hostile Proxy). */
function protoOf(v) {
  try {
    return Object.getPrototypeOf(v);
  } catch {
    return undefined;
  }
}

const isToken = (v) => v !== null && typeof v === 'object' && protoOf(v) === Token.prototype;

let tracing = false;
/** With `trace` (or LIBTLS_PROPS_TRACE=1), each run's input goes to stderr before it runs: after a
 * crash, the last `RUN` line is the input that crashed. */
function trace(group, input) {
  if (!tracing && !process.env.LIBTLS_PROPS_TRACE) return;
  let text;
  try {
    text = fc.stringify(input);
  } catch {
    text = inspect(input, { depth: 4 });
  }
  text = text.replace(/\n\s*/g, ' ');
  writeSync(2, `RUN ${group} ${text.length > 3000 ? `${text.slice(0, 3000)}...` : text}\n`);
}

/** Resolves tokens (recursively in plain arrays and objects) to the run's values. */
function resolver(env) {
  const r = (v) => {
    if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return v;
    const proto = protoOf(v);
    if (proto === Token.prototype) {
      if (v.name === 'revokedProxy') return revokedProxy();
      if (!(v.name in env)) throw new Error(`unknown token ${v.name}`);
      return env[v.name];
    }
    if (proto === Array.prototype && Array.isArray(v)) return v.map(r);
    if (proto === Object.prototype || proto === null) {
      // fast-check's records may have a null prototype
      let entries;
      try {
        entries = Object.entries(v);
      } catch {
        return v; // a hostile getter: leave it for the code under test
      }
      let changed = false;
      const o = {};
      for (const [k, x] of entries) {
        o[k] = r(x);
        if (o[k] !== x) changed = true;
      }
      return changed ? o : v;
    }
    return v;
  };
  return r;
}

/** fds made for one run (closed at its end) and a closed fd number. */
function runFds() {
  const [a, b] = L.socketpair();
  const sessionFd = openSync(sessionFile, 'r+');
  const fileFd = openSync(tmpFile, 'r+');
  return {
    env: {
      fdA: a,
      fdB: b,
      socketFd: a,
      sessionFd,
      fileFd,
      fileHandle: { fd: fileFd },
      closedFd: 1023 + (a % 7),
    },
    close() {
      for (const fd of [a, b, sessionFd, fileFd]) closeSync(fd);
    },
  };
}

async function configGroup(numRuns, seed) {
  const staticCall = fc.oneof(
    fc.tuple(fc.constant('new Config'), args(configOptions)),
    fc.tuple(fc.constant('Config.parseProtocols'), args(OPTION_NEAR.protocols)),
    fc.tuple(fc.constant('Config.defaultCaCertFile'), args()),
    fc.tuple(fc.constant('Config.loadFile'), args(paths, fc.constantFrom('', 'wrong', 'test-password'))),
    fc.tuple(fc.constant('client'), args(tok('config', 'freedConfig'))),
    fc.tuple(fc.constant('server'), args(tok('config', 'freedConfig'))),
  );
  await fc.assert(
    fc.asyncProperty(
      staticCall,
      fc.array(configCall, { maxLength: 6 }),
      async ([first, firstArgs], calls) => {
        trace('config', [[first, firstArgs], calls]);
        const fds = runFds();
        const made = [];
        const freed = new L.Config();
        freed.free();
        const env = { ...fds.env, freedConfig: freed };
        try {
          const keep = (v) => {
            if (v instanceof L.Config || v instanceof L.Tls) made.push(v);
          };
          let cfg;
          if (first === 'new Config') {
            const A = resolver(env)(firstArgs);
            cfg = (await attempt(first, () => new L.Config(...A), { onValue: keep })).value;
          } else {
            env.config = cfg = new L.Config();
            made.push(cfg);
            const A = resolver(env)(firstArgs);
            const fn = {
              'Config.parseProtocols': () => L.Config.parseProtocols(...A),
              'Config.defaultCaCertFile': () => L.Config.defaultCaCertFile(...A),
              'Config.loadFile': () => L.Config.loadFile(...A),
              client: () => L.client(...A),
              server: () => L.server(...A),
            }[first];
            await attempt(first, fn, { onValue: keep });
          }
          if (cfg === undefined) return;
          env.config = cfg;
          for (const [m, raw] of calls) {
            const a = resolver(env)(raw);
            const fn =
              m === 'dispose'
                ? () => cfg[Symbol.dispose](...a)
                : m === 'client'
                  ? () => L.client(...a)
                  : m === 'server'
                    ? () => L.server(...a)
                    : () => cfg[m](...a);
            const { value } = await attempt(`Config#${m}`, fn, { onValue: keep });
            if (value !== undefined && m !== 'client' && m !== 'server' && m !== 'free' && value !== cfg) {
              throw new Error(`Config#${m} returned something other than this`);
            }
          }
        } finally {
          for (const o of made) o.free();
          fds.close();
        }
      },
    ),
    { numRuns, seed },
  );
}

// ---- group: Tls (every method, on contexts in every state) ----

const STATES = [
  'client',
  'clientDefault',
  'server',
  'freed',
  'reset',
  'connectedClient',
  'acceptedSocket',
  'clientCbs',
  'acceptedCbs',
  'handshakenClient',
  'handshakenAccepted',
  'orphanAccepted',
];

/** Transport callbacks, from well-behaved to hostile (`cur` is the run's context holder). */
const readCallbacks = [
  'wantRead',
  'zeros',
  'tooMany',
  'throws',
  'returnsString',
  'returnsNegative',
  'returnsHuge',
  'freesSelf',
  'handshakesSelf',
  'freesServer',
  'peeks',
  'float64',
];
const writeCallbacks = [
  'takesAll',
  'wantWrite',
  'takesMore',
  'negative',
  'nan',
  'throws',
  'freesSelf',
  'takesNone',
  'bigint',
];

function makeReadCallback(kind, cur) {
  return {
    wantRead: () => L.WANT_POLLIN,
    zeros: (n) => new Uint8Array(n),
    tooMany: (n) => new Uint8Array(n + 1),
    throws: () => {
      throw new Boom('read callback');
    },
    returnsString: () => 'abc',
    returnsNegative: () => -1,
    returnsHuge: () => 2 ** 40,
    freesSelf: () => cur.ctx?.free(),
    handshakesSelf: () => cur.ctx?.handshake(),
    freesServer: () => {
      cur.server?.free();
      return L.WANT_POLLIN;
    },
    peeks: () => {
      cur.ctx?.connVersion();
      cur.ctx?.peerCertProvided();
      return L.WANT_POLLIN;
    },
    float64: () => new Float64Array(1),
  }[kind];
}

function makeWriteCallback(kind, cur) {
  return {
    takesAll: (c) => c.length,
    wantWrite: () => L.WANT_POLLOUT,
    takesMore: (c) => c.length + 1,
    negative: () => -7,
    nan: () => Number.NaN,
    throws: () => {
      throw new Boom('write callback');
    },
    freesSelf: () => cur.ctx?.free(),
    takesNone: () => 0,
    bigint: () => 5n,
  }[kind];
}

const readCb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...readCallbacks).map((k) => new Token(`read:${k}`)) },
  { weight: 1, arbitrary: weird },
);
const writeCb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...writeCallbacks).map((k) => new Token(`write:${k}`)) },
  { weight: 1, arbitrary: weird },
);

const hostsNear = ['127.0.0.1', '127.0.0.1:1', '[::1]:1', '[::1', '[]:1', ':1', '127.0.0.1:', '127.0.0.1:0'];
/** Host arguments: numeric loopback forms, or values that are not non-empty NUL-free strings (no DNS). */
const hostArg = fc.oneof(
  fc.constantFrom(...hostsNear),
  weird.filter((v) => typeof v !== 'string' || v === '' || v.includes('\0')),
);
/** Port arguments: 1 (nothing listens there), or values that are not valid ports. */
const portArg = fc.oneof(
  fc.constantFrom(1, '1', 0, '0', 65536, 'http', ''),
  weird.filter((v) => {
    const n = typeof v === 'string' ? Number(v) : v;
    return !(typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535) || n === 1;
  }),
);
const servernames = [
  'localhost',
  '127.0.0.1',
  'other.test',
  '',
  'a\0b',
  'x'.repeat(300),
  '..',
  '*.wild.test',
];
const fdArg = tok('fdA', 'fdB', 'fileFd', 'closedFd');
const ocspNear = fc.oneof(
  { weight: 2, arbitrary: fc.constant(pem('ocsp-good.der')) },
  fc.constantFrom(...ders),
  fc.tuple(fc.constantFrom(...ders), fc.nat()).map(([b, i]) => flip(b, i)),
  fc.tuple(fc.constantFrom(...ders), fc.nat()).map(([b, i]) => b.subarray(0, i % (b.length + 1))),
  fc.uint8Array({ maxLength: 256 }),
);
const readSizes = [1, 16384, 65536, 65537, 2 ** 30, 2 ** 30 + 1, 0, -1];

const TLS_METHODS = {
  configure: [tok('clientConfig', 'serverConfig', 'freedConfig', 'defaultConfig')],
  reset: [],
  free: [],
  dispose: [],
  acceptSocket: [fdArg],
  acceptFds: [fdArg, fdArg],
  acceptCbs: [readCb, writeCb],
  connServername: [],
  connect: [hostArg, portArg],
  connectServername: [hostArg, portArg, servernames],
  connectSocket: [fdArg, servernames],
  connectFds: [fdArg, fdArg, servernames],
  connectCbs: [readCb, writeCb, servernames],
  handshake: [],
  read: [readSizes],
  readInto: [
    fc.constantFrom(Buffer.alloc(16), new Uint8Array(0), new Uint8Array(4096), detachedU8(), resizableU8()),
    [0, 1, 15, 16, 17, -1],
    [0, 1, 15, 16, 17, -1],
  ],
  write: [fc.constantFrom('hello', '', Buffer.alloc(16384), HUGE, new Uint8Array(0), Buffer.alloc(70000))],
  sendfile: [
    tok('fileFd', 'fileHandle', 'fdA', 'closedFd'),
    [0, 1, 100, 65536, 2 ** 40],
    [0, 1, 65535, 65536, 2 ** 40],
  ],
  close: [],
  connVersion: [],
  connCipher: [],
  connCipherStrength: [],
  connAlpnSelected: [],
  connSessionResumed: [],
  peerCertProvided: [],
  peerCertContainsName: [servernames],
  peerCertHash: [],
  peerCertIssuer: [],
  peerCertSubject: [],
  peerCertNotBefore: [],
  peerCertNotAfter: [],
  peerCertChainPem: [],
  ocspProcessResponse: [ocspNear],
  peerOcspCertStatus: [],
  peerOcspCrlReason: [],
  peerOcspResponseStatus: [],
  peerOcspNextUpdate: [],
  peerOcspThisUpdate: [],
  peerOcspRevocationTime: [],
  peerOcspResult: [],
  peerOcspUrl: [],
  'get config': [],
  'get server': [],
  'get freed': [],
  'get handshaken': [],
};

/** The state of the context under test: connected ones (where most calls do something) more often. */
const stateArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('handshakenClient', 'handshakenAccepted') },
  { weight: 3, arbitrary: fc.constantFrom(...STATES) },
);

const tlsCall = fc.tuple(
  // which context of the run's pool: mostly the one the state is about
  fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.nat(7) }),
  fc.oneof(...Object.entries(TLS_METHODS).map(([m, pos]) => fc.tuple(fc.constant(m), args(...pos)))),
);

async function tlsGroup(numRuns, seed) {
  const clientCfg = clientConfig();
  const serverCfg = serverConfig();
  const defaultCfg = new L.Config();
  const freedCfg = new L.Config();
  freedCfg.free();
  const sharedServer = L.server(serverCfg);
  try {
    await fc.assert(
      fc.asyncProperty(stateArb, fc.array(tlsCall, { minLength: 1, maxLength: 6 }), async (state, calls) => {
        trace('tls', [state, calls]);
        const fds = runFds();
        const pool = [];
        const cur = { ctx: null, server: null };
        const env = {
          ...fds.env,
          clientConfig: clientCfg,
          serverConfig: serverCfg,
          freedConfig: freedCfg,
          defaultConfig: defaultCfg,
        };
        for (const k of readCallbacks) env[`read:${k}`] = makeReadCallback(k, cur);
        for (const k of writeCallbacks) env[`write:${k}`] = makeWriteCallback(k, cur);
        const extraFds = [];
        try {
          switch (state) {
            case 'client':
              pool.push(L.client(clientCfg));
              break;
            case 'clientDefault':
              pool.push(L.client());
              break;
            case 'server':
              pool.push(L.server(serverCfg));
              break;
            case 'freed': {
              const t = L.client(clientCfg);
              t.free();
              pool.push(t);
              break;
            }
            case 'reset': {
              const t = L.client(clientCfg);
              t.reset();
              pool.push(t);
              break;
            }
            case 'connectedClient': {
              const t = L.client(clientCfg);
              t.connectSocket(fds.env.fdA, 'localhost');
              pool.push(t);
              break;
            }
            case 'acceptedSocket': {
              const s = L.server(serverCfg);
              pool.push(s.acceptSocket(fds.env.fdB), s);
              break;
            }
            case 'clientCbs': {
              const t = L.client(clientCfg);
              t.connectCbs(env['read:wantRead'], env['write:takesAll'], 'localhost');
              pool.push(t);
              break;
            }
            case 'acceptedCbs': {
              const s = L.server(serverCfg);
              pool.push(s.acceptCbs(env['read:zeros'], env['write:takesAll']), s);
              break;
            }
            case 'handshakenClient':
            case 'handshakenAccepted': {
              const p = await pairHandshake(serverCfg, clientCfg);
              extraFds.push(...p.fds);
              if (p.clientError || p.serverError) throw p.clientError ?? p.serverError;
              if (state === 'handshakenClient') pool.push(p.cli, p.acc, p.srv);
              else pool.push(p.acc, p.cli, p.srv);
              break;
            }
            case 'orphanAccepted': {
              const s = L.server(serverCfg);
              const a = s.acceptCbs(env['read:zeros'], env['write:takesAll']);
              s.free();
              pool.push(a, s);
              break;
            }
          }
          pool.push(sharedServer);
          const resolve = resolver(env);
          for (const [which, [m, raw]] of calls) {
            const ctx = pool[which % pool.length];
            if (
              ctx === sharedServer &&
              (m === 'free' || m === 'dispose' || m === 'reset' || m === 'configure')
            )
              continue;
            cur.ctx = ctx;
            cur.server = ctx.server;
            const a = resolve(raw);
            const fn = m.startsWith('get ')
              ? () => ctx[m.slice(4)]
              : m === 'dispose'
                ? () => ctx[Symbol.dispose](...a)
                : () => ctx[m](...a);
            await attempt(`Tls#${m}`, fn, {
              onValue: (v) => {
                if (v instanceof L.Tls) pool.push(v);
              },
            });
          }
        } finally {
          cur.ctx = null;
          for (const t of pool) if (t !== sharedServer) t.free();
          for (const fd of extraFds) closeSync(fd);
          fds.close();
        }
      }),
      { numRuns, seed },
    );
  } finally {
    sharedServer.free();
    for (const c of [clientCfg, serverCfg, defaultCfg]) c.free();
  }
}

// ---- group: fds (poll, takeFd, socketpair) ----

async function fdGroup(numRuns, seed, servers) {
  const signals = () => ({
    aborted: AbortSignal.abort(),
    abortedBoom: AbortSignal.abort(new Boom('abort reason')),
    live: new AbortController().signal,
    soon: AbortSignal.timeout(1),
  });
  const pollFd = fc.oneof({ weight: 4, arbitrary: tok('readyFd') }, tok('closedFd', 'fileFd'));
  const want = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(L.WANT_POLLIN, L.WANT_POLLOUT) },
    fc.constantFrom(0, -1, 1, 2, 3, -2.5),
  );
  const pollOpts = fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    fc.record(
      {
        timeout: rare([0, 1, 50, -1, 1.5, 2 ** 31]),
        signal: rare(tok('aborted', 'abortedBoom', 'live', 'soon')),
      },
      { requiredKeys: [] },
    ),
  );
  const sockets = ['unconnected', 'connected', 'destroyed', 'readSome', 'pending'];
  const call = fc.oneof(
    fc.tuple(fc.constant('poll'), args(pollFd, want, pollOpts)),
    fc.tuple(fc.constant('takeFd'), args(fc.constantFrom(...sockets).map((s) => new Token(`socket:${s}`)))),
    fc.tuple(fc.constant('socketpair'), args()),
  );
  await fc.assert(
    fc.asyncProperty(call, async ([m, raw]) => {
      trace('fd', [m, raw]);
      const fds = runFds();
      const env = { ...fds.env, ...signals() };
      // a socketpair end that is readable (its peer wrote) and writable: every valid poll resolves
      const [r, w] = L.socketpair();
      env.readyFd = r;
      const closers = [() => closeSync(r), () => closeSync(w)];
      try {
        if (writeSync(w, Buffer.from('x')) !== 1) throw new Error('could not make the ready fd readable');
        if (m === 'takeFd') {
          const kind = isToken(raw[0]) ? raw[0].name.split(':')[1] : null;
          if (kind) env[raw[0].name] = await makeSocket(kind, servers, closers);
        }
        const a = resolver(env)(raw);
        const allowed = (err) => {
          // an abort reason, rejected as given
          if (m === 'poll' && a[2] && typeof a[2] === 'object' && a[2].signal?.reason === err)
            return 'aborted';
          return undefined;
        };
        const fn = {
          poll: () => L.poll(...a),
          takeFd: () => L.takeFd(...a),
          socketpair: () => L.socketpair(...a),
        }[m];
        await attempt(m, fn, {
          allowed,
          ms: 3000,
          onValue: (v) => {
            if (m === 'takeFd') {
              if (!Number.isInteger(v) || v < 3) throw new Error(`takeFd returned ${v}`);
              closeSync(v);
            }
            if (m === 'socketpair') {
              if (!Array.isArray(v) || v.length !== 2) throw new Error('socketpair did not return two fds');
              for (const fd of v) {
                if (!fstatSync(fd).isSocket()) throw new Error(`socketpair fd ${fd} is not a socket`);
                closeSync(fd);
              }
            }
          },
        });
      } finally {
        // let the poll watchers close (uv_close) before their fds do
        await new Promise((res) => setImmediate(res));
        for (const c of closers) c();
        fds.close();
      }
    }),
    { numRuns, seed },
  );
}

/** A net.Socket in the state `kind`, for takeFd (closers destroy it at the end of the run). */
async function makeSocket(kind, servers, closers) {
  if (kind === 'unconnected') return new net.Socket();
  const s = net.connect({ host: '127.0.0.1', port: servers.plainPort });
  s.on('error', () => {});
  closers.push(() => s.destroy());
  if (kind === 'pending') return s;
  await new Promise((res, rej) => {
    s.once('connect', res);
    s.once('error', rej);
  });
  if (kind === 'destroyed') s.destroy();
  if (kind === 'readSome') {
    await new Promise((res) => s.once('data', res));
  }
  return s;
}

// ---- group: Node.js layer (connect, createServer, upgrade) ----

async function startServers() {
  const clientCfg = clientConfig();
  const serverCfg = serverConfig();
  const tlsSockets = new Set();
  const tlsServer = L.createServer({ config: serverCfg, handshakeTimeout: 2000 }, (s) => {
    tlsSockets.add(s);
    s.on('error', () => {});
    s.on('close', () => tlsSockets.delete(s));
    s.resume();
    s.end('hi');
  });
  tlsServer.on('tlsClientError', () => {});
  tlsServer.listen(0, '127.0.0.1');
  await new Promise((res) => tlsServer.once('listening', res));
  // A listener whose connections become TLS *clients*: the peer of upgrade({ mode: 'server' }).
  const rawSockets = new Set();
  const clientListener = net.createServer((s) => {
    rawSockets.add(s);
    s.on('error', () => {});
    s.on('close', () => rawSockets.delete(s));
    L.upgrade(s, { mode: 'client', config: clientCfg, servername: 'localhost', timeout: 2000 }).then(
      (t) => {
        t.on('error', () => {});
        t.resume();
        t.end();
      },
      () => s.destroy(),
    );
  });
  clientListener.listen(0, '127.0.0.1');
  await new Promise((res) => clientListener.once('listening', res));
  // A plain listener that greets (for takeFd on a socket that has read data).
  const plainSockets = new Set();
  const plain = net.createServer((s) => {
    plainSockets.add(s);
    s.on('error', () => {});
    s.on('close', () => plainSockets.delete(s));
    s.write('hello');
  });
  plain.listen(0, '127.0.0.1');
  await new Promise((res) => plain.once('listening', res));
  return {
    clientCfg,
    serverCfg,
    tlsPort: tlsServer.address().port,
    clientPort: clientListener.address().port,
    plainPort: plain.address().port,
    async close() {
      for (const s of [...rawSockets, ...plainSockets, ...tlsSockets]) s.destroy();
      await Promise.all([
        new Promise((res) => tlsServer.close(res)),
        new Promise((res) => clientListener.close(res)),
        new Promise((res) => plain.close(res)),
      ]);
      tlsServer.context.free();
      clientCfg.free();
      serverCfg.free();
    },
  };
}

async function nodeGroup(numRuns, seed, servers) {
  const signalArg = rare(
    fc.oneof({ weight: 6, arbitrary: fc.constant(undefined) }, tok('aborted', 'abortedBoom', 'live', 'soon')),
  );
  const timeoutArg = rare(
    fc.oneof(
      { weight: 4, arbitrary: fc.constant(undefined) },
      fc.constantFrom(0, 1, 50, 2000, -1, 1.5, 2 ** 31),
    ),
  );
  const configLike = (kind) =>
    rare(
      fc.oneof(
        { weight: 4, arbitrary: tok(kind === 'client' ? 'clientConfig' : 'serverConfig') },
        tok('freedConfig', 'defaultConfig'),
        kind === 'client'
          ? fc.constantFrom(
              { caFile: pki('ca.crt') },
              { caFile: pki('ca.crt'), alpn: 'h2' },
              {},
              { bogus: 1 },
            )
          : fc.constantFrom({ certFile: pki('server.crt'), keyFile: pki('server.key') }, {}, { bogus: 1 }),
        configOptions,
      ),
    );
  const connectOpts = arg(
    fc
      .record(
        {
          host: fc.oneof(
            { weight: 8, arbitrary: fc.constantFrom('127.0.0.1', 'localhost') },
            { weight: 1, arbitrary: fc.constant(undefined) },
            weird.filter((v) => typeof v !== 'string' || v === '' || v.includes('\0')),
          ),
          port: fc.oneof(
            { weight: 8, arbitrary: tok('tlsPort', 'tlsPortString', 'plainPort') },
            weird.filter((v) => {
              const n = typeof v === 'string' ? Number(v) : v;
              return !(typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535);
            }),
          ),
          servername: rare(
            fc.oneof({ weight: 3, arbitrary: fc.constant('localhost') }, fc.constantFrom(...servernames)),
          ),
          config: configLike('client'),
          timeout: timeoutArg,
          signal: signalArg,
          family: rare([0, 4, 6, 5]),
          allowHalfOpen: rare([true, false]),
        },
        { requiredKeys: ['port'] },
      )
      // 'localhost' (also the default host) is in /etc/hosts for IPv4 only: with family 6 the resolver
      // would ask DNS, which is not loopback
      .filter((o) => !((o.host === undefined || o.host === 'localhost') && o.family === 6)),
  );
  const serverOpts = arg(
    fc.record(
      { config: configLike('server'), handshakeTimeout: timeoutArg, allowHalfOpen: rare([true, false]) },
      { requiredKeys: [] },
    ),
  );
  const upgradeOpts = arg(
    fc.record(
      {
        mode: rare(
          fc.oneof({ weight: 8, arbitrary: fc.constantFrom('client', 'server') }, fc.constant('both')),
        ),
        config: fc.oneof(configLike('client'), configLike('server')),
        servername: rare(
          fc.oneof({ weight: 3, arbitrary: fc.constant('localhost') }, fc.constantFrom(...servernames)),
        ),
        head: rare(
          fc.oneof(
            { weight: 6, arbitrary: fc.constant(undefined) },
            fc.uint8Array({ maxLength: 64 }),
            fc.constant(new Uint8Array(0)),
          ),
        ),
        timeout: timeoutArg,
        signal: signalArg,
        allowHalfOpen: rare([true, false]),
      },
      { requiredKeys: ['mode'] },
    ),
  );
  const streams = tok(
    'stream:tcp',
    'stream:passthrough',
    'stream:blackhole',
    'stream:destroyed',
    'stream:ended',
  );
  const call = fc.oneof(
    fc.tuple(fc.constant('connect'), args(connectOpts)),
    fc.tuple(fc.constant('createServer'), args(serverOpts, arg([label(() => {}, 'listener')]))),
    fc.tuple(
      fc.constant('upgrade'),
      args(fc.oneof({ weight: 4, arbitrary: tok('stream:tcp') }, streams), upgradeOpts),
    ),
  );
  const freedCfg = new L.Config();
  freedCfg.free();
  const defaultCfg = new L.Config();
  try {
    await fc.assert(
      fc.asyncProperty(call, async ([m, raw]) => {
        trace('node', [m, raw]);
        const fds = runFds();
        const closers = [];
        const sig = {
          aborted: AbortSignal.abort(),
          abortedBoom: AbortSignal.abort(new Boom('abort reason')),
          live: new AbortController().signal,
          soon: AbortSignal.timeout(1),
        };
        const env = {
          ...fds.env,
          ...sig,
          clientConfig: servers.clientCfg,
          serverConfig: servers.serverCfg,
          freedConfig: freedCfg,
          defaultConfig: defaultCfg,
          tlsPort: servers.tlsPort,
          tlsPortString: String(servers.tlsPort),
          plainPort: servers.plainPort,
        };
        try {
          let a;
          if (m === 'upgrade' && isToken(raw[0])) {
            const rest = resolver(env)(raw.slice(1));
            let mode;
            try {
              mode = rest[0]?.mode;
            } catch {}
            a = [await makeStream(raw[0].name.split(':')[1], mode, servers, closers), ...rest];
          } else {
            a = resolver(env)(raw);
          }
          const opts = m === 'createServer' ? a[0] : m === 'connect' ? a[0] : a[1];
          const allowed = (err) => {
            let reason;
            try {
              reason = opts?.signal?.reason;
            } catch {}
            if (reason !== undefined && err === reason) return 'aborted';
            if (err instanceof DOMException && /Abort|Timeout/.test(err.name)) {
              // an AbortSignal.timeout(1) that fired after the call read the options
              return 'aborted';
            }
            return undefined;
          };
          const fn = {
            connect: () => L.connect(...a),
            createServer: () => L.createServer(...a),
            upgrade: () => L.upgrade(...a),
          }[m];
          await attempt(m, fn, {
            allowed,
            ms: 8000,
            onValue: (v) => {
              if (m === 'createServer') {
                if (!(v instanceof L.TlsServer)) throw new Error('createServer returned no TlsServer');
                v.close();
                v.context.free();
              } else {
                if (!(v instanceof L.TlsSocket)) throw new Error(`${m} resolved with no TlsSocket`);
                if (v.version === null) throw new Error(`${m} resolved before the handshake`);
                v.on('error', () => {});
                v.destroy();
              }
            },
          });
        } finally {
          for (const c of closers) c();
          fds.close();
        }
      }),
      { numRuns, seed },
    );
  } finally {
    defaultCfg.free();
  }
}

/** A Duplex for upgrade(): a TCP socket to a peer of the right kind for `mode`, or odd streams. */
async function makeStream(kind, mode, servers, closers) {
  let s;
  if (kind === 'tcp') {
    s = net.connect({ host: '127.0.0.1', port: mode === 'server' ? servers.clientPort : servers.tlsPort });
    s.on('error', () => {});
    await new Promise((res) => s.once('connect', res));
  } else if (kind === 'passthrough') {
    s = new PassThrough(); // reads back what it is written: a client talking to itself
  } else if (kind === 'blackhole') {
    s = new Duplex({
      read() {},
      write(_c, _e, cb) {
        cb();
      },
    });
  } else if (kind === 'destroyed') {
    s = new PassThrough();
    s.destroy();
  } else {
    s = new PassThrough();
    s.end();
    s.resume();
  }
  s.on('error', () => {});
  closers.push(() => s.destroy());
  // a stream that gets nothing is destroyed after a while: upgrade() must then settle
  const t = setTimeout(() => s.destroy(), 1500);
  closers.push(() => clearTimeout(t));
  return s;
}

// ---- entry ----

export async function run({ group, seed, numRuns, trace: withTrace = false }) {
  tracing = withTrace;
  const started = Date.now();
  let servers;
  let failure = null;
  try {
    if (group === 'config') await configGroup(numRuns, seed);
    else if (group === 'tls') await tlsGroup(numRuns, seed);
    else {
      servers = await startServers();
      if (group === 'fd') await fdGroup(numRuns, seed, servers);
      else if (group === 'node') await nodeGroup(numRuns, seed, servers);
      else throw new Error(`unknown group ${group}`);
    }
  } catch (err) {
    failure = String(err?.stack ?? err) + (err?.cause ? `\nCAUSE: ${err.cause?.stack ?? err.cause}` : '');
  } finally {
    await servers?.close();
    rmSync(tmp, { recursive: true, force: true });
  }
  const expected = {
    config: [
      'new Config',
      'Config.parseProtocols',
      'Config.defaultCaCertFile',
      'Config.loadFile',
      'client',
      'server',
      'Config#dispose',
      'Config#client',
      'Config#server',
      ...Object.keys(SETTERS).map((m) => `Config#${m}`),
    ],
    tls: Object.keys(TLS_METHODS).map((m) => `Tls#${m}`),
    fd: ['poll', 'takeFd', 'socketpair'],
    node: ['connect', 'createServer', 'upgrade'],
  }[group];
  const total = Object.values(counts).reduce((n, c) => n + Object.values(c).reduce((a, b) => a + b, 0), 0);
  process.stdout.write(
    `REPORT ${JSON.stringify({ group, seed, numRuns, calls: total, ms: Date.now() - started, failure, expected, counts })}\n`,
  );
  if (process.env.LIBTLS_PROPS_DEBUG) {
    for (const [k, n] of Object.entries(messages).sort())
      process.stderr.write(`${String(n).padStart(5)} ${k}\n`);
  }
  if (failure) process.exitCode = 1;
}
