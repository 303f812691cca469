// The protos, loaded once at run time from the copy the build put beside the code (dist/proto).
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { PROTO_FILES } from './generated/methods';

/** Where the package's protos are: the gateway's (vouchery/...), buf/validate and google/rpc. */
export const PROTO_DIR = path.join(__dirname, 'proto');

const ERROR_FILES = ['google/rpc/status.proto', 'google/rpc/error_details.proto'];

let loaded: protobuf.Root | undefined;

/**
 * The gateway's API and the google.rpc error protos as one protobufjs Root (field names as in the
 * protos). Useful to decode what the client does not, or to build a fake gateway in a test.
 */
export function protoRoot(): protobuf.Root {
  if (loaded === undefined) {
    // buf/validate/validate.proto imports descriptor.proto, which protobufjs ships as JSON only.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const descriptor = require('protobufjs/google/protobuf/descriptor.json') as {
      nested: { google: { nested: { protobuf: { nested: protobuf.INamespace['nested'] } } } };
    };
    const common = protobuf.common as unknown as (name: string, json: unknown) => void;
    common('descriptor', descriptor.nested.google.nested.protobuf.nested);
    const root = new protobuf.Root();
    root.resolvePath = (_origin: string, target: string) => path.join(PROTO_DIR, target);
    root.loadSync([...PROTO_FILES, ...ERROR_FILES], { keepCase: true });
    root.resolveAll();
    loaded = root;
  }
  return loaded;
}

/** The message type `fullName` (e.g. "vouchery.gateway.v1.Money"). */
export function messageType(fullName: string): protobuf.Type {
  return protoRoot().lookupType(fullName);
}
