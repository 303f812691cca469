// int64 in and out of the wire without a float in between.
//
// protobufjs, left to itself, truncates a number such as 2500.5 to 2500 and reads "abc" as 0; an int64
// the gateway answers with comes back as a decimal string, never a number (a JavaScript number holds
// integers exactly only up to 2^53). These checks run on every request before anything is sent.

/**
 * An int64 value as a request takes it: a decimal string ("2500"), a BigInt (2500n), or a number that is
 * a safe integer (2500). Anything else (2500.5, 2 ** 60, "25.00", "") is refused with a TypeError
 * before the call is sent. Answers always hold int64 values as decimal strings.
 */
export type Int64Input = string | bigint | number;

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;
export const UINT64_MAX = 2n ** 64n - 1n;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const UINT32_MAX = 2 ** 32 - 1;

const DECIMAL = /^-?[0-9]+$/;

function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number') return String(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/**
 * `value` as the canonical decimal string of a 64-bit integer (signed unless `unsigned`), for `where`
 * (a field path, named in the error). A TypeError for anything that is not an exact integer; a
 * RangeError for an integer outside the type's range.
 */
export function int64String(value: unknown, where: string, unsigned = false): string {
  let integer: bigint;
  if (typeof value === 'bigint') {
    integer = value;
  } else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      const why = Number.isInteger(value) ? 'is beyond 2^53, where numbers lose digits' : 'is not an integer';
      throw new TypeError(
        `${where}: ${shown(value)} ${why}; an int64 field takes a decimal string, a BigInt or a safe integer ` +
          'number (amounts of money in minor units: 2500 for 25.00 EUR)',
      );
    }
    integer = BigInt(value);
  } else if (typeof value === 'string') {
    if (!DECIMAL.test(value)) {
      throw new TypeError(
        `${where}: ${shown(value)} is not a whole number in decimal digits; an int64 field takes e.g. "2500" ` +
          '(amounts of money in minor units: "2500" for 25.00 EUR)',
      );
    }
    integer = BigInt(value);
  } else {
    throw new TypeError(`${where}: ${shown(value)} is not an int64; give a decimal string, a BigInt or a safe integer number`);
  }
  const [low, high] = unsigned ? [0n, UINT64_MAX] : [INT64_MIN, INT64_MAX];
  if (integer < low || integer > high) {
    throw new RangeError(`${where}: ${integer} is outside the ${unsigned ? 'uint64' : 'int64'} range`);
  }
  return integer.toString();
}

/** `value` as a 32-bit integer (a number, or a BigInt in range), for `where`. */
export function int32Number(value: unknown, where: string, unsigned = false): number {
  const number = typeof value === 'bigint' && value >= BigInt(INT32_MIN) && value <= BigInt(UINT32_MAX) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number)) {
    throw new TypeError(`${where}: ${shown(value)} is not an integer`);
  }
  const [low, high] = unsigned ? [0, UINT32_MAX] : [INT32_MIN, INT32_MAX];
  if (number < low || number > high) {
    throw new RangeError(`${where}: ${number} is outside the ${unsigned ? 'uint32' : 'int32'} range`);
  }
  return number;
}

export { shown as describeValue };
