// Every RPC of every service in the protos has a typed method on GatewayClient, named after it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as protobuf from 'protobufjs';
import { GatewayClient, METHODS, SERVICES, protoRoot } from '../dist';

function services(): protobuf.Service[] {
  const found: protobuf.Service[] = [];
  const walk = (node: protobuf.NamespaceBase): void => {
    for (const child of node.nestedArray) {
      if (child instanceof protobuf.Service) found.push(child);
      if (child instanceof protobuf.Namespace || child instanceof protobuf.Type) walk(child);
    }
  };
  walk(protoRoot().lookup('vouchery') as protobuf.Namespace);
  return found;
}

describe('the client surface', () => {
  it('has one method per RPC of CheckoutService, LoyaltyService and CustomerService', () => {
    const rpcs = services().flatMap((service) =>
      service.methodsArray.map((method) => `${service.fullName.slice(1)}/${method.name}`),
    );
    assert.deepEqual(
      new Set(services().map((service) => service.name)),
      new Set(['CheckoutService', 'LoyaltyService', 'CustomerService']),
    );
    assert.deepEqual([...SERVICES].sort(), services().map((service) => service.fullName.slice(1)).sort());
    const table = Object.entries(METHODS).map(([name, method]) => {
      assert.equal(name, method.name.charAt(0).toLowerCase() + method.name.slice(1));
      assert.equal(typeof (GatewayClient.prototype as unknown as Record<string, unknown>)[name], 'function', name);
      return `${method.service}/${method.name}`;
    });
    assert.deepEqual(table.sort(), rpcs.sort());
    assert.ok(rpcs.length >= 22);
  });

  it('needs a target, and checks its retry settings at once', () => {
    assert.throws(() => new GatewayClient({} as never), TypeError);
    assert.throws(() => new GatewayClient({ target: '127.0.0.1:1', retry: { maxAttempts: 0 } }), RangeError);
  });
});
