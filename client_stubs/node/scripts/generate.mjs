#!/usr/bin/env node
// Builds, from the gateway's protos, what the package is compiled with (run by `npm run build`, which
// `npm ci` runs through the `prepare` script):
//
// - dist/proto/: the protos the client loads at run time: the gateway's own (../../proto, or
//   $VOUCHERY_PROTO_DIR), the buf/validate/validate.proto they import (../../third_party/proto, or
//   $VOUCHERY_THIRD_PARTY_PROTO_DIR) and the vendored google/rpc ones (vendor/). A copy, so the built
//   package does not depend on where the repository is.
// - src/generated/messages.ts: TypeScript types with the proto comments: every enum of the API; an
//   output type for every message an answer can hold (int64 as a decimal string, enums by name, an unset
//   message null); an input type (`...Input`) for every message a request can hold (int64 as a string,
//   a BigInt or a safe-integer number; the fields buf.validate marks required are required).
// - src/generated/methods.ts: one typed method per RPC of every service, with the RPC's comment.
//
// Nothing generated is committed: a proto change reaches the types at the next build.
import { createRequire } from 'node:module';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const protobuf = require('protobufjs');

const PKG = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT_PROTO = join(PKG, 'dist', 'proto');
const OUT_TS = join(PKG, 'src', 'generated');
const API_PACKAGE = 'vouchery';
// Properties the client puts on every answer (src/call.ts): no response message may have a field so named.
const ANSWER_PROPERTIES = ['replay', 'requestId', 'attempts'];

const SOURCES = [
  { dir: process.env.VOUCHERY_PROTO_DIR || resolve(PKG, '..', '..', 'proto'), top: 'vouchery' },
  { dir: process.env.VOUCHERY_THIRD_PARTY_PROTO_DIR || resolve(PKG, '..', '..', 'third_party', 'proto'), top: 'buf' },
  { dir: join(PKG, 'vendor'), top: 'google' },
];

function protoFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return protoFiles(path);
    return name.endsWith('.proto') ? [path] : [];
  });
}

function copyProtos() {
  rmSync(join(PKG, 'dist'), { recursive: true, force: true }); // nothing of an earlier build lingers
  for (const { dir, top } of SOURCES) {
    const from = join(dir, top);
    if (!existsSync(from)) {
      throw new Error(`generate: ${from} does not exist (set VOUCHERY_PROTO_DIR / VOUCHERY_THIRD_PARTY_PROTO_DIR)`);
    }
    for (const file of protoFiles(from)) {
      const to = join(OUT_PROTO, relative(dir, file));
      mkdirSync(dirname(to), { recursive: true });
      cpSync(file, to);
    }
  }
  const apiFiles = protoFiles(join(OUT_PROTO, API_PACKAGE)).map((file) => relative(OUT_PROTO, file).split(sep).join('/'));
  if (apiFiles.length === 0) throw new Error(`generate: no .proto files under ${join(OUT_PROTO, API_PACKAGE)}`);
  return apiFiles.sort();
}

// The same loading as src/protos.ts: descriptor.proto (imported by buf/validate) from protobufjs's own copy.
function loadRoot(files) {
  const descriptor = require('protobufjs/google/protobuf/descriptor.json');
  protobuf.common('descriptor', descriptor.nested.google.nested.protobuf.nested);
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(OUT_PROTO, target);
  root.loadSync(files, { keepCase: true, alternateCommentMode: true });
  root.resolveAll();
  return root;
}

// -- naming -------------------------------------------------------------------------------------------

function packageOf(type) {
  let node = type.parent;
  while (node && !(node instanceof protobuf.Root) && (node instanceof protobuf.Type || node instanceof protobuf.Service)) {
    node = node.parent;
  }
  return node;
}

const tsNames = new Map(); // full proto name -> TypeScript name
const byTsName = new Map();

function tsName(type) {
  const known = tsNames.get(type.fullName);
  if (known) return known;
  const path = [];
  for (let node = type; node && node !== packageOf(type); node = node.parent) path.unshift(node.name);
  const name = path.join('_');
  const clash = byTsName.get(name);
  if (clash && clash !== type.fullName) throw new Error(`generate: ${type.fullName} and ${clash} would both be ${name}`);
  tsNames.set(type.fullName, name);
  byTsName.set(name, type.fullName);
  return name;
}

function lowerFirst(name) {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

function jsdoc(text, indent = '') {
  if (!text || !text.trim()) return '';
  const lines = text.trim().replace(/\*\//g, '*\\/').split('\n');
  if (lines.length === 1) return `${indent}/** ${lines[0]} */\n`;
  return `${indent}/**\n${lines.map((line) => `${indent} * ${line}`.trimEnd()).join('\n')}\n${indent} */\n`;
}

// -- types --------------------------------------------------------------------------------------------

const INT64 = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const NUMBER = new Set(['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32', 'double', 'float']);

function isRequired(field) {
  if (field.options && field.options['(buf.validate.field).required'] === true) return true;
  return (field.parsedOptions || []).some((option) => option['(buf.validate.field)']?.required === true);
}

function scalarType(type, input) {
  if (INT64.has(type)) return input ? 'Int64Input' : 'string';
  if (NUMBER.has(type)) return 'number';
  if (type === 'bool') return 'boolean';
  if (type === 'string') return 'string';
  if (type === 'bytes') return input ? 'Uint8Array | string' : 'Uint8Array';
  throw new Error(`generate: unsupported field type ${type}`);
}

function valueType(field, input, wanted) {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) {
    wanted.add(resolved);
    return `${tsName(resolved)} | number`;
  }
  if (resolved instanceof protobuf.Type) {
    wanted.add(resolved);
    return input ? `${tsName(resolved)}Input` : tsName(resolved);
  }
  return scalarType(field.type, input);
}

function fieldLine(field, input, wanted) {
  const value = valueType(field, input, wanted);
  const inOneof = Boolean(field.partOf);
  let type;
  let optional;
  if (field.map) {
    const key = INT64.has(field.keyType) || NUMBER.has(field.keyType) ? 'string' : scalarType(field.keyType, false);
    type = input ? `{ readonly [key: ${key}]: ${value} }` : `{ [key: ${key}]: ${value} }`;
    optional = input;
  } else if (field.repeated) {
    type = input ? `ReadonlyArray<${value}>` : `Array<${value}>`;
    optional = input;
  } else if (field.resolvedType instanceof protobuf.Type) {
    type = inOneof ? value : `${value} | null`;
    optional = inOneof || input;
  } else {
    type = value;
    optional = inOneof || input;
  }
  if (input && isRequired(field)) {
    optional = false;
    type = type.replace(/ \| null$/, '');
  }
  const readonly = input ? 'readonly ' : '';
  return `${jsdoc(field.comment, '  ')}  ${readonly}${field.name}${optional ? '?' : ''}: ${type};\n`;
}

function messageCode(type, wanted, input) {
  const name = tsName(type);
  const doc = type.comment ? `${type.comment.trim()}\n\n` : '';
  const fields = type.fieldsArray.map((field) => fieldLine(field, input, wanted)).join('');
  const how = input ? 'as requests take it' : 'as answers hold it';
  return `${jsdoc(`${doc}\`${type.fullName.slice(1)}\` ${how}.`)}export interface ${name}${input ? 'Input' : ''} {\n${fields}}\n\n`;
}

function enumCode(type) {
  const name = tsName(type);
  const values = Object.entries(type.values)
    .map(([key, number]) => `${jsdoc(type.comments?.[key], '  ')}  ${key}: ${number},\n`)
    .join('');
  return (
    `${jsdoc(type.comment)}export const ${name} = {\n${values}} as const;\n` +
    `${jsdoc(`The value names of \`${type.fullName.slice(1)}\`.`)}export type ${name} = keyof typeof ${name};\n\n`
  );
}

function allOf(namespace, kind) {
  const found = [];
  const walk = (node) => {
    for (const child of node.nestedArray || []) {
      if (child instanceof kind) found.push(child);
      walk(child);
    }
  };
  walk(namespace);
  return found;
}

function messagesFile(root, services) {
  // Output types for what answers can hold, input types (`...Input`) for what requests can hold: the
  // types reachable from the responses and from the requests; and every enum of the API.
  const api = root.lookup(API_PACKAGE);
  const outputs = new Set(allOf(api, protobuf.Enum));
  const inputs = new Set();
  for (const service of services) {
    for (const method of service.methodsArray) {
      inputs.add(method.resolvedRequestType);
      outputs.add(method.resolvedResponseType);
    }
  }
  const code = new Map(); // [TypeScript name, kind] -> text
  for (const [wanted, input] of [[outputs, false], [inputs, true]]) {
    const done = new Set();
    // Fields pull in the types they refer to (e.g. google.protobuf.Timestamp) until nothing is new.
    for (let pending = [...wanted]; pending.length > 0; pending = [...wanted].filter((type) => !done.has(type))) {
      for (const type of pending) {
        done.add(type);
        if (type instanceof protobuf.Enum) code.set(tsName(type), enumCode(type));
        else code.set(`${tsName(type)}${input ? 'Input' : ''}`, messageCode(type, input ? inputs : outputs, input));
      }
    }
  }
  const text = [...code.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([, part]) => part)
    .join('');
  return (
    '// Generated by scripts/generate.mjs from the protos: do not edit (run `npm run build`).\n' +
    "import type { Int64Input } from '../scalars';\n\n" +
    text
  );
}

function methodsFile(services, apiFiles) {
  const table = [];
  const methods = [];
  const seen = new Map();
  for (const service of services) {
    const serviceName = service.fullName.slice(1);
    for (const method of service.methodsArray) {
      if (method.requestStream || method.responseStream) {
        throw new Error(`generate: ${serviceName}.${method.name} streams; the client has unary calls only`);
      }
      const jsName = lowerFirst(method.name);
      if (seen.has(jsName)) throw new Error(`generate: ${serviceName}.${method.name} and ${seen.get(jsName)} are both ${jsName}`);
      seen.set(jsName, `${serviceName}.${method.name}`);
      const response = method.resolvedResponseType;
      for (const property of ANSWER_PROPERTIES) {
        if (response.fields[property]) {
          throw new Error(`generate: ${response.fullName} has a field ${property}, which the client sets on every answer`);
        }
      }
      const request = tsName(method.resolvedRequestType);
      table.push(
        `  ${jsName}: {\n` +
          `    service: '${serviceName}',\n` +
          `    name: '${method.name}',\n` +
          `    path: '/${serviceName}/${method.name}',\n` +
          `    requestType: '${method.resolvedRequestType.fullName.slice(1)}',\n` +
          `    responseType: '${response.fullName.slice(1)}',\n` +
          '  },\n',
      );
      methods.push(
        jsdoc(`\`${serviceName.split('.').pop()}.${method.name}\`${method.comment ? `\n\n${method.comment.trim()}` : ''}`, '  ') +
          `  ${jsName}(request: m.${request}Input, options?: CallOptions): Promise<Answer<m.${tsName(response)}>> {\n` +
          `    return this.unary(METHODS.${jsName}, request, options);\n` +
          '  }\n\n',
      );
    }
  }
  return (
    '// Generated by scripts/generate.mjs from the protos: do not edit (run `npm run build`).\n' +
    "import type { Answer, CallOptions, MethodInfo } from '../call';\n" +
    "import type * as m from './messages';\n\n" +
    '/** The .proto files of the API, relative to the package\'s proto directory (dist/proto). */\n' +
    `export const PROTO_FILES: readonly string[] = ${JSON.stringify(apiFiles)};\n\n` +
    '/** The services of the API, by full name. */\n' +
    `export const SERVICES: readonly string[] = ${JSON.stringify(services.map((s) => s.fullName.slice(1)))};\n\n` +
    '/** Every RPC, by the name of its client method. */\n' +
    `export const METHODS = {\n${table.join('')}} as const satisfies Record<string, MethodInfo>;\n\n` +
    '/** One typed method per RPC; `GatewayClient` supplies the call itself. */\n' +
    'export abstract class GeneratedMethods {\n' +
    '  protected abstract unary<R>(method: MethodInfo, request: object, options: CallOptions | undefined): Promise<Answer<R>>;\n\n' +
    methods.join('').replace(/\n\n$/, '\n') +
    '}\n'
  );
}

const apiFiles = copyProtos();
const root = loadRoot(apiFiles);
const services = allOf(root.lookup(API_PACKAGE), protobuf.Service).sort((a, b) => a.fullName.localeCompare(b.fullName));
mkdirSync(OUT_TS, { recursive: true });
writeFileSync(join(OUT_TS, 'messages.ts'), messagesFile(root, services));
writeFileSync(join(OUT_TS, 'methods.ts'), methodsFile(services, apiFiles));
const rpcs = services.reduce((sum, service) => sum + service.methodsArray.length, 0);
process.stdout.write(`generate: ${services.length} services, ${rpcs} RPCs, ${tsNames.size} types from ${apiFiles.length} files\n`);
