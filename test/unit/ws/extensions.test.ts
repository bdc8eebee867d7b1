/**
 * ws/extensions.ts: `Sec-WebSocket-Extensions` parsing per RFC 6455 §9.1 (several offers, parameters with and
 * without values, quoted values, OWS, empty list elements, unknown extensions) with a table of malformed
 * headers that must give `null`, and formatting with its round trip.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ExtensionOffer, extensionNames, formatExtensions, parseExtensions } from '../../../src/ws/extensions.js';

describe('RFC 6455 §9.1 Sec-WebSocket-Extensions parsing', () => {
  const valid: [string, string, ExtensionOffer[]][] = [
    ['one extension', 'permessage-deflate', [{ name: 'permessage-deflate', params: [] }]],
    [
      'a parameter without value',
      'permessage-deflate; client_max_window_bits',
      [{ name: 'permessage-deflate', params: [['client_max_window_bits', true]] }],
    ],
    [
      'parameters with token values',
      'permessage-deflate; server_max_window_bits=10; client_no_context_takeover',
      [
        {
          name: 'permessage-deflate',
          params: [
            ['server_max_window_bits', '10'],
            ['client_no_context_takeover', true],
          ],
        },
      ],
    ],
    ['a quoted value', 'x-foo; a="10"', [{ name: 'x-foo', params: [['a', '10']] }]],
    ['a quoted value with a quoted-pair', 'x-foo; a="1\\0"', [{ name: 'x-foo', params: [['a', '10']] }]],
    [
      'a quoted token of every token character',
      'x; a="!#$%&\'*+-.^_`|~09AZaz"',
      [{ name: 'x', params: [['a', "!#$%&'*+-.^_`|~09AZaz"]] }],
    ],
    [
      'several offers (RFC 7692 §5 example)',
      'permessage-deflate; client_max_window_bits=10, permessage-deflate',
      [
        { name: 'permessage-deflate', params: [['client_max_window_bits', '10']] },
        { name: 'permessage-deflate', params: [] },
      ],
    ],
    [
      'OWS around every delimiter',
      ' \tfoo ; a = 1 ;b\t,  bar ',
      [
        {
          name: 'foo',
          params: [
            ['a', '1'],
            ['b', true],
          ],
        },
        { name: 'bar', params: [] },
      ],
    ],
    [
      'empty list elements',
      ', foo,, bar ,',
      [
        { name: 'foo', params: [] },
        { name: 'bar', params: [] },
      ],
    ],
    ['an empty value', '', []],
    ['only commas', ' , ,', []],
    [
      'unknown extensions and repeated parameters are kept',
      'x-webkit-deflate-frame; max_window_bits=15; max_window_bits=15',
      [
        {
          name: 'x-webkit-deflate-frame',
          params: [
            ['max_window_bits', '15'],
            ['max_window_bits', '15'],
          ],
        },
      ],
    ],
  ];
  for (const [name, header, expected] of valid) {
    it(`parses ${name}`, () => assert.deepEqual(parseExtensions(header), expected));
  }

  const invalid: [string, string][] = [
    ['a parameter without a name', 'foo; =1'],
    ['a leading semicolon', '; foo'],
    ['a trailing semicolon', 'foo;'],
    ['an empty value after =', 'foo; a='],
    ['an unterminated quoted value', 'foo; a="10'],
    ['a quoted value that is not a token', 'foo; a="1 0"'],
    ['an empty quoted value', 'foo; a=""'],
    ['a name that is not a token', 'fo@o'],
    ['a value that is not a token', 'foo; a=1/2'],
    ['two names without a comma', 'foo bar'],
    ['a stray quote', 'foo"'],
    ['a control character', 'foo;\u0001a'],
    ['a non-latin1 character', 'f\u20acoo'],
    ['a backslash at the end of a quoted value', 'foo; a="1\\'],
    ['a quoted name', '"foo"'],
    ['a control character in a quoted-pair', 'foo; a="1\\\u0001"'],
    ['a control character in a quoted value', 'foo; a="1\u00012"'],
    ['a DEL in a quoted value', 'foo; a="1\u007f"'],
    ['a quoted value with a separator', 'foo; a="1;2"'],
  ];
  for (const [name, header] of invalid) {
    it(`returns null for ${name}`, () => assert.equal(parseExtensions(header), null));
  }
});

describe('RFC 6455 §9.1 Sec-WebSocket-Extensions formatting', () => {
  it('formats names, bare parameters and values', () => {
    assert.equal(
      formatExtensions([
        {
          name: 'permessage-deflate',
          params: [
            ['client_max_window_bits', true],
            ['server_max_window_bits', '10'],
          ],
        },
        { name: 'x-foo', params: [] },
      ]),
      'permessage-deflate; client_max_window_bits; server_max_window_bits=10, x-foo',
    );
    assert.equal(formatExtensions([]), '');
  });
  it('round-trips through parseExtensions', () => {
    const list: ExtensionOffer[] = [
      {
        name: 'a',
        params: [
          ['b', 'c'],
          ['d', true],
        ],
      },
      { name: 'e', params: [] },
    ];
    assert.deepEqual(parseExtensions(formatExtensions(list)), list);
    assert.deepEqual(extensionNames(list), ['a', 'e']);
  });
  it('refuses names and values that are not tokens', () => {
    assert.throws(() => formatExtensions([{ name: 'a b', params: [] }]), TypeError);
    assert.throws(() => formatExtensions([{ name: 'a', params: [['b c', true]] }]), TypeError);
    assert.throws(() => formatExtensions([{ name: 'a', params: [['b', 'x\r\ny']] }]), TypeError);
    assert.throws(() => formatExtensions([{ name: 'a', params: [['b', '']] }]), TypeError);
  });
});
