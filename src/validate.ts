// Argument checks shared by the public classes: wrong types throw TypeError, out-of-range values
// RangeError, before anything reaches C.

/** PEM/DER/data arguments: `string | Uint8Array`. */
export type BytesLike = string | Uint8Array;

// Describes a bad argument for a TypeError without letting it run code of its own: a getter, a
// Proxy trap or a `constructor.name` that is not a string must not replace the TypeError.
function describe(v: unknown): string {
  try {
    if (v === null) return 'null';
    if (Array.isArray(v)) return 'an array';
    if (typeof v === 'object') {
      const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
      return `an instance of ${typeof name === 'string' && name !== '' ? name : 'Object'}`;
    }
    if (typeof v === 'string') return 'a string';
    if (typeof v === 'function') return 'a function';
    return `${typeof v} ${String(v)}`;
  } catch {
    return `a value of type ${typeof v}`;
  }
}

export function fail(name: string, expected: string, v: unknown): never {
  throw new TypeError(`${name} must be ${expected}, got ${describe(v)}`);
}

export function toBytes(v: unknown, name: string): Uint8Array {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (v instanceof Uint8Array) return v;
  return fail(name, 'a string or a Uint8Array', v);
}

export function str(v: unknown, name: string): string {
  if (typeof v !== 'string') fail(name, 'a string', v);
  if (v.includes('\0')) throw new TypeError(`${name} must not contain NUL characters`);
  return v;
}

export function optStr(v: unknown, name: string): string | null {
  return v === undefined || v === null ? null : str(v, name);
}

export function nonEmptyStr(v: unknown, name: string): string {
  const s = str(v, name);
  if (s === '') throw new TypeError(`${name} must not be empty`);
  return s;
}

export function int(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== 'number') fail(name, 'an integer', v);
  if (!Number.isInteger(v)) throw new RangeError(`${name} must be an integer, got ${v}`);
  if (v < min || v > max) throw new RangeError(`${name} must be between ${min} and ${max}, got ${v}`);
  return v;
}

export const INT32_MAX = 2 ** 31 - 1;
export const UINT32_MAX = 2 ** 32 - 1;

export function fd(v: unknown, name = 'fd'): number {
  return int(v, name, 0, INT32_MAX);
}

export function bool(v: unknown, name: string): boolean {
  if (typeof v !== 'boolean') fail(name, 'a boolean', v);
  return v;
}

export function fn<T extends (...args: never[]) => unknown>(v: unknown, name: string): T {
  if (typeof v !== 'function') fail(name, 'a function', v);
  return v as T;
}
