// Money in and out: minor units exact whatever form they come in, and never through a float.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  cartLine,
  cartWithLines,
  currencyExponent,
  formatAmount,
  money,
  parseAmount,
  returnedLine,
  simpleCart,
} from '../dist';

describe('money()', () => {
  it('takes minor units as a decimal string, a BigInt or a safe integer, and keeps them as a string', () => {
    assert.deepEqual(money('2500', 'EUR'), { amount: '2500', currency_code: 'EUR' });
    assert.deepEqual(money(2500n, 'EUR'), { amount: '2500', currency_code: 'EUR' });
    assert.deepEqual(money(2500, 'EUR'), { amount: '2500', currency_code: 'EUR' });
    assert.deepEqual(money(9007199254740993n, 'EUR').amount, '9007199254740993'); // past 2^53, exact
    assert.deepEqual(money('-0', 'EUR').amount, '0');
  });

  it('refuses a float, an unsafe number and decimal text with a TypeError naming the rule', () => {
    assert.throws(() => money(2500.5, 'EUR'), { name: 'TypeError', message: /2500\.5 is not an integer/ });
    assert.throws(() => money(2 ** 60, 'EUR'), { name: 'TypeError', message: /beyond 2\^53/ });
    assert.throws(() => money('25.00', 'EUR'), { name: 'TypeError', message: /not a whole number/ });
    assert.throws(() => money('', 'EUR'), TypeError);
    assert.throws(() => money(Number.NaN, 'EUR'), TypeError);
    assert.throws(() => money(null as unknown as string, 'EUR'), TypeError);
  });

  it('refuses an amount beyond int64 and an unknown currency with a RangeError', () => {
    assert.throws(() => money(2n ** 63n, 'EUR'), RangeError);
    assert.throws(() => money(1, 'EURO'), { name: 'RangeError', message: /unknown ISO 4217/ });
  });
});

describe('parseAmount()', () => {
  it('reads decimal text in the currency unit as exact minor units, like the Python CLI', () => {
    assert.equal(parseAmount('25.00', 'EUR'), 2500n);
    assert.equal(parseAmount('25.5', 'EUR'), 2550n);
    assert.equal(parseAmount('25', 'EUR'), 2500n);
    assert.equal(parseAmount('0.01', 'EUR'), 1n);
    assert.equal(parseAmount('1500', 'JPY'), 1500n);
    assert.equal(parseAmount('1.234', 'KWD'), 1234n);
    assert.equal(parseAmount('92233720368547758.07', 'EUR'), 2n ** 63n - 1n);
  });

  it('never rounds: more places than the currency has are refused', () => {
    assert.throws(() => parseAmount('25.001', 'EUR'), { name: 'RangeError', message: /more decimal places than EUR has \(2\)/ });
    assert.throws(() => parseAmount('1500.5', 'JPY'), RangeError);
  });

  it('refuses signs, exponents, separators and blanks', () => {
    for (const text of ['-1.00', '+1.00', '2.5e1', '1,00', ' 25.00', '25.', '.5', '', 'abc', '0x10']) {
      assert.throws(() => parseAmount(text, 'EUR'), TypeError, text);
    }
  });

  it('with requireDecimals, refuses a bare whole number where the currency has decimals', () => {
    assert.throws(() => parseAmount('4000', 'EUR', { requireDecimals: true }), {
      name: 'TypeError',
      message: /"4000" is ambiguous: .*4000\.00 for 4000 EUR, or 40\.00 if 4000 meant minor units/,
    });
    assert.equal(parseAmount('40.00', 'EUR', { requireDecimals: true }), 4000n);
    assert.equal(parseAmount('40.5', 'EUR', { requireDecimals: true }), 4050n);
    assert.equal(parseAmount('1500', 'JPY', { requireDecimals: true }), 1500n); // no decimals to forget
  });
});

describe('formatAmount() and currencyExponent()', () => {
  it('prints minor units with the currency places', () => {
    assert.equal(formatAmount({ amount: '2500', currency_code: 'EUR' }), '25.00');
    assert.equal(formatAmount({ amount: '5', currency_code: 'EUR' }), '0.05');
    assert.equal(formatAmount({ amount: 1500n, currency_code: 'JPY' }), '1500');
    assert.equal(formatAmount({ amount: '-1234', currency_code: 'KWD' }), '-1.234');
    assert.equal(formatAmount({ amount: '9223372036854775807', currency_code: 'EUR' }), '92233720368547758.07');
    assert.deepEqual(['EUR', 'JPY', 'BHD', 'CLF'].map(currencyExponent), [2, 0, 3, 4]);
  });
});

describe('request builders', () => {
  it('cartWithLines totals the lines exactly in BigInt', () => {
    const cart = cartWithLines([cartLine('SHIRT', 2, '1500'), cartLine('SHOES', 1n, 2000n)], { shipping: 499 });
    assert.deepEqual(cart.total, { amount: '5000', currency_code: 'EUR' });
    assert.deepEqual(cart.shipping, { amount: '499', currency_code: 'EUR' });
    assert.equal(cart.lines?.[0]?.product_id, 'SHIRT');
    const huge = cartWithLines([cartLine('GOLD', 3, '3002399751580331')]);
    assert.equal(huge.total.amount, '9007199254740993');
  });

  it('cartWithLines refuses mixed currencies and no lines', () => {
    assert.throws(() => cartWithLines([cartLine('A', 1, 1, 'EUR'), cartLine('B', 1, 1, 'USD')]), RangeError);
    assert.throws(() => cartWithLines([]), RangeError);
  });

  it('simpleCart and returnedLine check their numbers', () => {
    assert.deepEqual(simpleCart('2500'), { total: { amount: '2500', currency_code: 'EUR' }, lines: [] });
    assert.deepEqual(returnedLine(0, 2), { line_index: 0, quantity: '2' });
    assert.throws(() => simpleCart(25.5), TypeError);
    assert.throws(() => cartLine('A', 1.5, 100), TypeError);
  });
});
