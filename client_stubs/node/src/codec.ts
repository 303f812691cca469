// Requests to bytes and bytes to answers, with every value checked against its field before sending.
//
// protobufjs's own conversion is forgiving in ways a till must not be: it truncates 2500.5 to 2500,
// turns "abc" into 0 and "false" into true, and drops fields it does not know (a camelCase
// `voucherCode` vanishes and the call goes out without it). `checkRequest` refuses all of these with a
// TypeError naming the field, before anything is sent.
import * as protobuf from 'protobufjs';
import { describeValue, int32Number, int64String } from './scalars';

const INT64 = new Set(['int64', 'sint64', 'sfixed64']);
const UINT64 = new Set(['uint64', 'fixed64']);
const INT32 = new Set(['int32', 'sint32', 'sfixed32']);
const UINT32 = new Set(['uint32', 'fixed32']);

/** How answers are decoded: int64 as decimal strings, enums by name, unset fields as their defaults
 * (a message as null), repeated fields as arrays, maps as objects. */
export const DECODE_OPTIONS: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: false,
};

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

function checkScalar(field: protobuf.Field, value: unknown, where: string): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) {
    if (typeof value === 'string') {
      if (!Object.prototype.hasOwnProperty.call(resolved.values, value)) {
        throw new TypeError(`${where}: ${describeValue(value)} is not a value of ${resolved.name}`);
      }
      return value;
    }
    if (typeof value === 'number') return int32Number(value, where);
    throw new TypeError(`${where}: ${describeValue(value)} is not a ${resolved.name} (give its name, e.g. "${Object.keys(resolved.values)[1] ?? Object.keys(resolved.values)[0]}")`);
  }
  if (resolved instanceof protobuf.Type) {
    return checkMessage(resolved, value, where);
  }
  const type = field.type;
  if (INT64.has(type)) return int64String(value, where);
  if (UINT64.has(type)) return int64String(value, where, true);
  if (INT32.has(type)) return int32Number(value, where);
  if (UINT32.has(type)) return int32Number(value, where, true);
  switch (type) {
    case 'string':
      if (typeof value !== 'string') throw new TypeError(`${where}: ${describeValue(value)} is not a string`);
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw new TypeError(`${where}: ${describeValue(value)} is not a boolean`);
      return value;
    case 'double':
    case 'float':
      if (typeof value !== 'number') throw new TypeError(`${where}: ${describeValue(value)} is not a number`);
      return value;
    case 'bytes':
      if (!(value instanceof Uint8Array) && typeof value !== 'string') {
        throw new TypeError(`${where}: ${describeValue(value)} is not bytes (a Uint8Array or base64 text)`);
      }
      return value;
    default:
      throw new TypeError(`${where}: unsupported field type ${type}`);
  }
}

function checkMapKey(field: protobuf.MapField, key: string, where: string): string {
  if (field.keyType === 'string') return key;
  if (field.keyType === 'bool') {
    if (key !== 'true' && key !== 'false') throw new TypeError(`${where}: map key ${JSON.stringify(key)} is not true or false`);
    return key;
  }
  if (INT64.has(field.keyType) || UINT64.has(field.keyType)) return int64String(key, where, UINT64.has(field.keyType));
  return String(int32Number(/^-?[0-9]+$/.test(key) ? Number(key) : key, where, UINT32.has(field.keyType)));
}

/**
 * `value` checked against message type `type`: a plain object whose keys are the proto's field names,
 * each value of its field's kind. Returns a copy protobufjs encodes exactly (int64 as decimal strings).
 * `undefined` fields, and `null` message fields, count as unset.
 */
export function checkMessage(type: protobuf.Type, value: unknown, where: string = type.name): Record<string, unknown> {
  if (!isPlainObject(value)) {
    throw new TypeError(`${where}: ${describeValue(value)} is not a plain object for ${type.name}`);
  }
  const checked: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) continue;
    const field = type.fields[key];
    const path = `${where}.${key}`;
    if (field === undefined) {
      const hint = type.fields[snakeCase(key)] ? ` (did you mean ${snakeCase(key)}?)` : '';
      throw new TypeError(`${path}: ${type.name} has no field ${JSON.stringify(key)}${hint}`);
    }
    if (field.map) {
      if (!isPlainObject(item)) throw new TypeError(`${path}: ${describeValue(item)} is not a plain object (a map)`);
      const map: Record<string, unknown> = {};
      for (const [mapKey, mapValue] of Object.entries(item)) {
        const entry = `${path}[${JSON.stringify(mapKey)}]`;
        map[checkMapKey(field as unknown as protobuf.MapField, mapKey, entry)] = checkScalar(field, mapValue, entry);
      }
      checked[key] = map;
    } else if (field.repeated) {
      if (!Array.isArray(item)) {
        throw new TypeError(`${path}: ${describeValue(item)} is not an array (${key} is a repeated field)`);
      }
      checked[key] = item.map((element, index) => checkScalar(field, element, `${path}[${index}]`));
    } else if (item === null && field.resolvedType instanceof protobuf.Type) {
      continue;
    } else {
      checked[key] = checkScalar(field, item, path);
    }
  }
  return checked;
}

/** The wire bytes of `request` as message `type`, after `checkMessage`. */
export function encodeMessage(type: protobuf.Type, request: unknown): Buffer {
  const bytes = type.encode(type.fromObject(checkMessage(type, request))).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Bytes of message `type` as a plain object (DECODE_OPTIONS). */
export function decodeMessage<T>(type: protobuf.Type, bytes: Uint8Array): T {
  return type.toObject(type.decode(bytes), DECODE_OPTIONS) as T;
}
