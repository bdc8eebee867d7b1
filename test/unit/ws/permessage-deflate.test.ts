/**
 * ws/permessage-deflate.ts: RFC 7692 §5 and §7 negotiation. Server side: window bits values (§7.1.2), offers the
 * server must decline (unknown, duplicate or invalid parameters, §7) and the fallback to the client's next offer
 * (§5), real client offers, and every combination of the four parameters (§7.1) crossed with server policies,
 * checked against an oracle written from the RFC rules. Client side: the offer `deflateOffer` builds, the
 * responses `checkDeflateResponse` must refuse (§7 "MUST _Fail the WebSocket Connection_") or accept, and the
 * round trip server response → client check. Policy validation (`checkDeflatePolicy`).
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ExtensionOffer, formatExtensions, parseExtensions } from '../../../src/ws/extensions.js';
import {
  checkDeflatePolicy,
  checkDeflateResponse,
  type DeflateClientOffer,
  type DeflateParams,
  type DeflateServerPolicy,
  deflateOffer,
  negotiateDeflate,
} from '../../../src/ws/permessage-deflate.js';

/** Parses a header that must be well formed. */
function parse(header: string): ExtensionOffer[] {
  const list = parseExtensions(header);
  assert.ok(list !== null, `test header must parse: ${header}`);
  return list;
}

/** Parses a header holding exactly one element (a server response). */
function parseOne(header: string): ExtensionOffer {
  const list = parse(header);
  assert.equal(list.length, 1, `test header must hold one element: ${header}`);
  return list[0]!;
}

function params(s: boolean, c: boolean, sBits: number, cBits: number): DeflateParams {
  return {
    serverNoContextTakeover: s,
    clientNoContextTakeover: c,
    serverMaxWindowBits: sBits,
    clientMaxWindowBits: cBits,
  };
}

/** The defaults: no context reset, 15-bit windows both ways. */
const DEFAULT_PARAMS = params(false, false, 15, 15);

/** Negotiates and returns `[response header, params]`, or `null` when no offer was accepted. */
function negotiate(header: string, policy: DeflateServerPolicy = {}): [string, DeflateParams] | null {
  const r = negotiateDeflate(parse(header), policy);
  if (r === null) return null;
  return [formatExtensions([r.response]), r.params];
}

describe('RFC 7692 §7.1.2 window bits values in an offer', () => {
  // "a decimal integer value without leading zeroes between 8 to 15, inclusive"
  for (let n = 8; n <= 15; n++) {
    it(`accepts server_max_window_bits=${n} (§7.1.2.1) and answers the same value`, () => {
      assert.deepEqual(negotiate(`permessage-deflate; server_max_window_bits=${n}`), [
        `permessage-deflate; server_max_window_bits=${n}`,
        params(false, false, n, 15),
      ]);
    });
    it(`accepts client_max_window_bits=${n} (§7.1.2.2) and states it when below 15`, () => {
      assert.deepEqual(negotiate(`permessage-deflate; client_max_window_bits=${n}`), [
        n < 15 ? `permessage-deflate; client_max_window_bits=${n}` : 'permessage-deflate',
        params(false, false, 15, n),
      ]);
    });
  }

  // Quoted values are unquoted by parseExtensions (RFC 6455 §9.1) and are then ordinary tokens.
  const quoted: [string, string, string, DeflateParams][] = [
    [
      'a quoted server_max_window_bits ("10")',
      'permessage-deflate; server_max_window_bits="10"',
      'permessage-deflate; server_max_window_bits=10',
      params(false, false, 10, 15),
    ],
    [
      'a quoted client_max_window_bits ("9")',
      'permessage-deflate; client_max_window_bits="9"',
      'permessage-deflate; client_max_window_bits=9',
      params(false, false, 15, 9),
    ],
    [
      'OWS around "=" and ";"',
      'permessage-deflate ;server_max_window_bits = 12 ; client_max_window_bits',
      'permessage-deflate; server_max_window_bits=12',
      params(false, false, 12, 15),
    ],
  ];
  for (const [name, header, response, expected] of quoted) {
    it(`accepts ${name}`, () => assert.deepEqual(negotiate(header), [response, expected]));
  }

  const invalid: [string, string][] = [
    ['a leading zero', '08'],
    ['a leading zero on a two-digit value', '010'],
    ['a lone zero', '0'],
    ['7 (below 8)', '7'],
    ['1', '1'],
    ['16 (above 15)', '16'],
    ['99', '99'],
    ['100', '100'],
    ['a letter after a digit', '1a'],
    ['a letter', 'a'],
    ['a plus sign', '+9'],
    ['a minus sign', '-9'],
    ['a decimal point', '9.0'],
    ['an exponent', '1e1'],
    ['a hexadecimal value', '0xa'],
    ['a quoted leading zero', '"09"'],
    ['a quoted 16', '"16"'],
  ];
  for (const [name, value] of invalid) {
    it(`declines server_max_window_bits with ${name} (§7.1.2.1: "MUST decline")`, () => {
      assert.equal(negotiate(`permessage-deflate; server_max_window_bits=${value}`), null);
    });
    it(`declines client_max_window_bits with ${name} (§7.1.2.2: "MUST decline")`, () => {
      assert.equal(negotiate(`permessage-deflate; client_max_window_bits=${value}`), null);
    });
  }

  // An empty value cannot come out of parseExtensions ("a=" is malformed), but the element type allows it.
  it('declines an empty server_max_window_bits value', () => {
    assert.equal(
      negotiateDeflate([{ name: 'permessage-deflate', params: [['server_max_window_bits', '']] }], {}),
      null,
    );
  });
  it('declines an empty client_max_window_bits value', () => {
    assert.equal(
      negotiateDeflate([{ name: 'permessage-deflate', params: [['client_max_window_bits', '']] }], {}),
      null,
    );
  });
});

describe('RFC 7692 §5, §7 server: declined offers, fallback and real client offers', () => {
  // [description, Sec-WebSocket-Extensions offer, policy, [response header, params] or null (no compression)]
  const rows: [string, string, DeflateServerPolicy, [string, DeflateParams] | null][] = [
    // §7: "A server MUST decline an extension negotiation offer for this extension if any of the following
    // conditions are met: [unknown parameter] [invalid value] [multiple parameters with the same name]"
    ['an unknown parameter (§7)', 'permessage-deflate; foo', {}, null],
    ['an unknown parameter with a value (§7)', 'permessage-deflate; max_window_bits=10', {}, null],
    [
      'an unknown parameter next to valid ones (§7)',
      'permessage-deflate; client_max_window_bits; server_no_context_takeover; x=1',
      {},
      null,
    ],
    [
      'the x-webkit-deflate-frame parameter name (§7)',
      'permessage-deflate; no_context_takeover',
      { serverNoContextTakeover: true },
      null,
    ],
    [
      'a duplicate server_no_context_takeover (§7)',
      'permessage-deflate; server_no_context_takeover; server_no_context_takeover',
      {},
      null,
    ],
    [
      'a duplicate client_no_context_takeover (§7)',
      'permessage-deflate; client_no_context_takeover; client_no_context_takeover',
      {},
      null,
    ],
    [
      'a duplicate server_max_window_bits with the same value (§7)',
      'permessage-deflate; server_max_window_bits=10; server_max_window_bits=10',
      {},
      null,
    ],
    [
      'a duplicate client_max_window_bits with and without a value (§7)',
      'permessage-deflate; client_max_window_bits; client_max_window_bits=10',
      {},
      null,
    ],
    [
      'a duplicate client_max_window_bits without a value (§7)',
      'permessage-deflate; client_max_window_bits; client_max_window_bits',
      {},
      null,
    ],
    [
      'a duplicate separated by another parameter (§7)',
      'permessage-deflate; client_max_window_bits=9; server_no_context_takeover; client_max_window_bits=9',
      {},
      null,
    ],
    [
      'server_no_context_takeover with a value (§7.1.1.1 "has no value")',
      'permessage-deflate; server_no_context_takeover=1',
      {},
      null,
    ],
    [
      'server_no_context_takeover with a quoted value (§7.1.1.1)',
      'permessage-deflate; server_no_context_takeover="true"',
      {},
      null,
    ],
    [
      'client_no_context_takeover with a value (§7.1.1.2 "has no value")',
      'permessage-deflate; client_no_context_takeover=true',
      {},
      null,
    ],
    [
      'server_max_window_bits without a value (§7.1.2.1, it always has one)',
      'permessage-deflate; server_max_window_bits',
      {},
      null,
    ],
    ['no permessage-deflate offer at all', 'x-webkit-deflate-frame; no_context_takeover, foo', {}, null],
    ['an empty header', '', {}, null],
    [
      'every offer invalid (§5: none acceptable, the handshake goes on uncompressed)',
      'permessage-deflate; a, permessage-deflate; server_max_window_bits=16, permessage-deflate; client_max_window_bits=7',
      {},
      null,
    ],
    // §5: the client lists offers in its order of preference; the server accepts the first it can.
    [
      'the second offer when the first has an unknown parameter (§5)',
      'permessage-deflate; foo, permessage-deflate; client_max_window_bits',
      {},
      ['permessage-deflate', DEFAULT_PARAMS],
    ],
    [
      'the second offer when the first has an invalid value (§5)',
      'permessage-deflate; server_max_window_bits=7, permessage-deflate; server_max_window_bits=9',
      {},
      ['permessage-deflate; server_max_window_bits=9', params(false, false, 9, 15)],
    ],
    [
      'the second offer when the first has a duplicate (§5)',
      'permessage-deflate; server_no_context_takeover; server_no_context_takeover, permessage-deflate; client_no_context_takeover',
      {},
      ['permessage-deflate; client_no_context_takeover', params(false, true, 15, 15)],
    ],
    [
      'the third offer when the first two are invalid (§5)',
      'permessage-deflate; a, permessage-deflate; client_max_window_bits=08, permessage-deflate; client_max_window_bits=10',
      {},
      ['permessage-deflate; client_max_window_bits=10', params(false, false, 15, 10)],
    ],
    [
      'the first of two valid offers (§5 order of preference)',
      'permessage-deflate; server_no_context_takeover, permessage-deflate',
      {},
      ['permessage-deflate; server_no_context_takeover', params(true, false, 15, 15)],
    ],
    [
      'the first of two valid offers in the RFC 7692 §5.2 example',
      'permessage-deflate; client_max_window_bits=10, permessage-deflate',
      {},
      ['permessage-deflate; client_max_window_bits=10', params(false, false, 15, 10)],
    ],
    [
      'permessage-deflate after other extensions, whose parameters are ignored',
      'x-webkit-deflate-frame; no_context_takeover, foo; server_max_window_bits=7, permessage-deflate; server_no_context_takeover',
      {},
      ['permessage-deflate; server_no_context_takeover', params(true, false, 15, 15)],
    ],
    [
      'permessage-deflate between other extensions',
      'foo; bar=1, permessage-deflate; client_max_window_bits=12, x-webkit-deflate-frame',
      {},
      ['permessage-deflate; client_max_window_bits=12', params(false, false, 15, 12)],
    ],
    // Real offers.
    [
      "a browser's offer (Chrome, Safari) with the default policy",
      'permessage-deflate; client_max_window_bits',
      {},
      ['permessage-deflate', DEFAULT_PARAMS],
    ],
    [
      "a browser's offer with clientMaxWindowBits 9 (§7.1.2.2 the server limits the client's window)",
      'permessage-deflate; client_max_window_bits',
      { clientMaxWindowBits: 9 },
      ['permessage-deflate; client_max_window_bits=9', params(false, false, 15, 9)],
    ],
    [
      "a browser's offer with every policy option",
      'permessage-deflate; client_max_window_bits',
      {
        serverNoContextTakeover: true,
        clientNoContextTakeover: true,
        serverMaxWindowBits: 10,
        clientMaxWindowBits: 11,
      },
      [
        'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11',
        params(true, true, 10, 11),
      ],
    ],
    ["Firefox's offer (no parameters)", 'permessage-deflate', {}, ['permessage-deflate', DEFAULT_PARAMS]],
    [
      "Firefox's offer with clientMaxWindowBits 9 (§7.1.2.2 MUST NOT include client_max_window_bits)",
      'permessage-deflate',
      { clientMaxWindowBits: 9 },
      ['permessage-deflate', DEFAULT_PARAMS],
    ],
    [
      'an offer of both window sizes at 12',
      'permessage-deflate; server_max_window_bits=12; client_max_window_bits=12',
      {},
      ['permessage-deflate; server_max_window_bits=12; client_max_window_bits=12', params(false, false, 12, 12)],
    ],
    [
      'an offer of both window sizes at 12 with policy windows of 10',
      'permessage-deflate; server_max_window_bits=12; client_max_window_bits=12',
      { serverMaxWindowBits: 10, clientMaxWindowBits: 10 },
      ['permessage-deflate; server_max_window_bits=10; client_max_window_bits=10', params(false, false, 10, 10)],
    ],
    [
      "the ws library's client offer",
      'permessage-deflate; client_max_window_bits',
      { serverMaxWindowBits: 15, clientMaxWindowBits: 15 },
      ['permessage-deflate', DEFAULT_PARAMS],
    ],
    [
      'an offer with all four parameters',
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=8',
      {},
      [
        'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=8',
        params(true, true, 9, 8),
      ],
    ],
    [
      'an offer with all four parameters in reverse order',
      'permessage-deflate; client_max_window_bits=8; server_max_window_bits=9; client_no_context_takeover; server_no_context_takeover',
      {},
      [
        'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=8',
        params(true, true, 9, 8),
      ],
    ],
  ];
  for (const [name, header, policy, expected] of rows) {
    const verb = expected === null ? 'declines' : 'accepts';
    it(`${verb} ${name}: ${JSON.stringify(header)} with policy ${JSON.stringify(policy)}`, () => {
      assert.deepEqual(negotiate(header, policy), expected);
    });
  }

  it('returns the response element as a permessage-deflate element with parameters in pairs', () => {
    const r = negotiateDeflate(parse('permessage-deflate; server_max_window_bits=10; client_no_context_takeover'), {});
    assert.deepEqual(r?.response, {
      name: 'permessage-deflate',
      params: [
        ['client_no_context_takeover', true],
        ['server_max_window_bits', '10'],
      ],
    });
  });

  it('throws RangeError for an invalid policy, even with no offer', () => {
    assert.throws(() => negotiateDeflate(parse('permessage-deflate'), { serverMaxWindowBits: 16 }), RangeError);
    assert.throws(() => negotiateDeflate([], { clientMaxWindowBits: 7 }), RangeError);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Every combination of the four parameters, against an oracle written from RFC 7692 §7.1.

/** One permessage-deflate offer: each parameter absent (null) or present; 'bare' = client_max_window_bits alone. */
interface OfferModel {
  snct: boolean;
  cnct: boolean;
  smwb: number | null;
  cmwb: number | 'bare' | null;
}

function allOffers(): OfferModel[] {
  const out: OfferModel[] = [];
  for (const snct of [false, true]) {
    for (const cnct of [false, true]) {
      for (const smwb of [null, 8, 10, 15]) {
        for (const cmwb of [null, 'bare', 8, 10, 15] as const) out.push({ snct, cnct, smwb, cmwb });
      }
    }
  }
  return out;
}

/** The offer's parameters as header strings, in the order of RFC 7692 §7.1. */
function offerParams(m: OfferModel): string[] {
  const ps: string[] = [];
  if (m.snct) ps.push('server_no_context_takeover');
  if (m.cnct) ps.push('client_no_context_takeover');
  if (m.smwb !== null) ps.push(`server_max_window_bits=${m.smwb}`);
  if (m.cmwb === 'bare') ps.push('client_max_window_bits');
  else if (m.cmwb !== null) ps.push(`client_max_window_bits=${m.cmwb}`);
  return ps;
}

function offerHeader(m: OfferModel, reversed = false): string {
  const ps = offerParams(m);
  if (reversed) ps.reverse();
  return ['permessage-deflate', ...ps].join('; ');
}

/** The client-side options that produce this offer. */
function clientOffer(m: OfferModel): DeflateClientOffer {
  return {
    serverNoContextTakeover: m.snct,
    clientNoContextTakeover: m.cnct,
    ...(m.smwb !== null ? { serverMaxWindowBits: m.smwb } : {}),
    clientMaxWindowBits: m.cmwb === 'bare' ? true : m.cmwb === null ? false : m.cmwb,
  };
}

/**
 * The oracle: what the server answers and agrees to, from the rules of RFC 7692 §7.1 as the brief states them.
 * The response lists the parameters in the §7.1 order (the RFC does not fix an order; this pins ours).
 */
function expectedAgreement(m: OfferModel, policy: DeflateServerPolicy): [string, DeflateParams] {
  const policyServerBits = policy.serverMaxWindowBits ?? 15;
  const policyClientBits = policy.clientMaxWindowBits ?? 15;
  const response: string[] = ['permessage-deflate'];

  // §7.1.1.1: accepting server_no_context_takeover means including it; the server may include it unasked.
  const snct = m.snct || policy.serverNoContextTakeover === true;
  if (snct) response.push('server_no_context_takeover');

  // §7.1.1.2: echoed when offered; the server may ask for it unasked.
  const cnct = m.cnct || policy.clientNoContextTakeover === true;
  if (cnct) response.push('client_no_context_takeover');

  // §7.1.2.1: accepting server_max_window_bits=N means answering N or less; unasked, a smaller window is announced.
  let serverBits: number;
  if (m.smwb === null) {
    serverBits = policyServerBits;
    if (policyServerBits !== 15) response.push(`server_max_window_bits=${policyServerBits}`);
  } else {
    serverBits = Math.min(m.smwb, policyServerBits);
    response.push(`server_max_window_bits=${serverBits}`);
  }

  // §7.1.2.2: absent from the offer → MUST NOT be in the response, and the client may use 15 bits. Without a
  // value → the server may set one (only useful below 15). With value v → the server answers v or less, and
  // must state it since an absent parameter allows the client 15 bits.
  let clientBits = 15;
  if (m.cmwb === 'bare') {
    clientBits = policyClientBits;
    if (policyClientBits !== 15) response.push(`client_max_window_bits=${policyClientBits}`);
  } else if (m.cmwb !== null) {
    clientBits = Math.min(m.cmwb, policyClientBits);
    // Only the response binds the client (its absence means "up to 32,768 bytes"): any value below 15 is sent.
    if (clientBits !== 15) response.push(`client_max_window_bits=${clientBits}`);
  }

  return [
    response.join('; '),
    {
      serverNoContextTakeover: snct,
      clientNoContextTakeover: cnct,
      serverMaxWindowBits: serverBits,
      clientMaxWindowBits: clientBits,
    },
  ];
}

const POLICIES: DeflateServerPolicy[] = [
  {},
  { serverNoContextTakeover: true },
  { clientNoContextTakeover: true },
  { serverMaxWindowBits: 10 },
  { clientMaxWindowBits: 9 },
  { serverMaxWindowBits: 15, clientMaxWindowBits: 15, serverNoContextTakeover: false, clientNoContextTakeover: false },
  { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 8, clientMaxWindowBits: 8 },
];

describe('RFC 7692 §7.1 server: every offer × policy against the oracle', () => {
  const offers = allOffers();
  it('generates 80 distinct offers', () => {
    assert.equal(new Set(offers.map((m) => offerHeader(m))).size, 80);
  });
  for (const policy of POLICIES) {
    for (const m of offers) {
      const header = offerHeader(m);
      it(`${JSON.stringify(header)} with policy ${JSON.stringify(policy)}`, () => {
        const expected = expectedAgreement(m, policy);
        assert.deepEqual(negotiate(header, policy), expected);
        // The order of parameters in an offer does not matter.
        assert.deepEqual(negotiate(offerHeader(m, true), policy), expected, 'parameters in reverse order');
        // An invalid first offer falls back to this one (§5).
        assert.deepEqual(negotiate(`permessage-deflate; x, ${header}`, policy), expected, 'after an invalid offer');
        // A second, different offer after an accepted one changes nothing.
        assert.deepEqual(
          negotiate(`${header}, permessage-deflate; server_no_context_takeover; server_max_window_bits=9`, policy),
          expected,
          'before another valid offer',
        );
      });
    }
  }
});

describe('RFC 7692 §7.1 round trip: deflateOffer → negotiateDeflate → checkDeflateResponse', () => {
  for (const policy of POLICIES) {
    for (const m of allOffers()) {
      const header = offerHeader(m);
      it(`${JSON.stringify(header)} with policy ${JSON.stringify(policy)}`, () => {
        const options = clientOffer(m);
        // The client builds exactly this offer.
        assert.equal(formatExtensions([deflateOffer(options)]), header);
        const agreement = negotiateDeflate([deflateOffer(options)], policy);
        assert.ok(agreement !== null, 'the server accepts every valid offer');
        // The response travels as a header.
        const response = parseOne(formatExtensions([agreement.response]));
        const result = checkDeflateResponse(response, options);
        assert.deepEqual(result, { ok: true, params: agreement.params });
      });
    }
  }
});

describe('RFC 7692 §7.1 client offer (deflateOffer)', () => {
  it('offers "permessage-deflate; client_max_window_bits" by default, like browsers', () => {
    assert.equal(formatExtensions([deflateOffer()]), 'permessage-deflate; client_max_window_bits');
    assert.deepEqual(deflateOffer(), { name: 'permessage-deflate', params: [['client_max_window_bits', true]] });
  });

  const rows: [string, DeflateClientOffer, string][] = [
    ['no options', {}, 'permessage-deflate; client_max_window_bits'],
    ['clientMaxWindowBits true', { clientMaxWindowBits: true }, 'permessage-deflate; client_max_window_bits'],
    ['clientMaxWindowBits false', { clientMaxWindowBits: false }, 'permessage-deflate'],
    ['clientMaxWindowBits 10', { clientMaxWindowBits: 10 }, 'permessage-deflate; client_max_window_bits=10'],
    ['clientMaxWindowBits 8', { clientMaxWindowBits: 8 }, 'permessage-deflate; client_max_window_bits=8'],
    ['clientMaxWindowBits 15', { clientMaxWindowBits: 15 }, 'permessage-deflate; client_max_window_bits=15'],
    [
      'serverNoContextTakeover',
      { serverNoContextTakeover: true },
      'permessage-deflate; server_no_context_takeover; client_max_window_bits',
    ],
    [
      'clientNoContextTakeover',
      { clientNoContextTakeover: true, clientMaxWindowBits: false },
      'permessage-deflate; client_no_context_takeover',
    ],
    [
      'no-takeover options set to false',
      { serverNoContextTakeover: false, clientNoContextTakeover: false },
      'permessage-deflate; client_max_window_bits',
    ],
    [
      'serverMaxWindowBits 9',
      { serverMaxWindowBits: 9 },
      'permessage-deflate; server_max_window_bits=9; client_max_window_bits',
    ],
    [
      'every option',
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 12, clientMaxWindowBits: 8 },
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=8',
    ],
  ];
  for (const [name, options, expected] of rows) {
    it(`offers ${JSON.stringify(expected)} for ${name}`, () => {
      assert.equal(formatExtensions([deflateOffer(options)]), expected);
    });
  }

  const bad: [string, DeflateClientOffer][] = [
    ['serverMaxWindowBits 7', { serverMaxWindowBits: 7 }],
    ['serverMaxWindowBits 16', { serverMaxWindowBits: 16 }],
    ['serverMaxWindowBits 0', { serverMaxWindowBits: 0 }],
    ['serverMaxWindowBits 9.5', { serverMaxWindowBits: 9.5 }],
    ['serverMaxWindowBits NaN', { serverMaxWindowBits: Number.NaN }],
    ['clientMaxWindowBits 7', { clientMaxWindowBits: 7 }],
    ['clientMaxWindowBits 16', { clientMaxWindowBits: 16 }],
    ['clientMaxWindowBits -1', { clientMaxWindowBits: -1 }],
    ['clientMaxWindowBits 10.5', { clientMaxWindowBits: 10.5 }],
    ['clientMaxWindowBits Infinity', { clientMaxWindowBits: Number.POSITIVE_INFINITY }],
  ];
  for (const [name, options] of bad) {
    it(`throws RangeError for ${name}`, () => assert.throws(() => deflateOffer(options), RangeError));
  }
});

describe('RFC 7692 §7 client check of the response (checkDeflateResponse)', () => {
  // §7: "A client MUST _Fail the WebSocket Connection_ if the peer server accepted an extension negotiation offer
  // for this extension with an extension negotiation response meeting any of the following conditions".
  const fail: [string, string, DeflateClientOffer][] = [
    ['an unknown parameter (§7)', 'permessage-deflate; foo', {}],
    ['an unknown parameter with a value (§7)', 'permessage-deflate; max_window_bits=10', {}],
    ['an unknown parameter after valid ones (§7)', 'permessage-deflate; server_no_context_takeover; x', {}],
    [
      'a duplicate server_no_context_takeover (§7)',
      'permessage-deflate; server_no_context_takeover; server_no_context_takeover',
      { serverNoContextTakeover: true },
    ],
    [
      'a duplicate client_no_context_takeover (§7)',
      'permessage-deflate; client_no_context_takeover; client_no_context_takeover',
      {},
    ],
    [
      'a duplicate server_max_window_bits (§7)',
      'permessage-deflate; server_max_window_bits=10; server_max_window_bits=10',
      { serverMaxWindowBits: 10 },
    ],
    [
      'a duplicate client_max_window_bits (§7)',
      'permessage-deflate; client_max_window_bits=10; client_max_window_bits=10',
      {},
    ],
    [
      'a value on server_no_context_takeover (§7.1.1.1)',
      'permessage-deflate; server_no_context_takeover=1',
      { serverNoContextTakeover: true },
    ],
    ['a value on client_no_context_takeover (§7.1.1.2)', 'permessage-deflate; client_no_context_takeover=1', {}],
    [
      'client_max_window_bits without a value (§7.1.2.2, a response has a value)',
      'permessage-deflate; client_max_window_bits',
      {},
    ],
    [
      'client_max_window_bits we did not offer (§7.1.2.2 MUST NOT include)',
      'permessage-deflate; client_max_window_bits=10',
      { clientMaxWindowBits: false },
    ],
    [
      'client_max_window_bits=15 we did not offer (§7.1.2.2)',
      'permessage-deflate; client_max_window_bits=15',
      { clientMaxWindowBits: false },
    ],
    [
      'client_max_window_bits larger than we offered (§7.1.2.2)',
      'permessage-deflate; client_max_window_bits=11',
      { clientMaxWindowBits: 10 },
    ],
    [
      'client_max_window_bits=15 when we offered 8 (§7.1.2.2)',
      'permessage-deflate; client_max_window_bits=15',
      { clientMaxWindowBits: 8 },
    ],
    [
      'server_max_window_bits larger than we offered (§7.1.2.1)',
      'permessage-deflate; server_max_window_bits=11',
      { serverMaxWindowBits: 10 },
    ],
    ['server_max_window_bits missing when we offered it (§7.1.2.1)', 'permessage-deflate', { serverMaxWindowBits: 10 }],
    [
      'server_max_window_bits missing when we offered 15 (§7.1.2.1)',
      'permessage-deflate; client_max_window_bits=9',
      { serverMaxWindowBits: 15 },
    ],
    [
      'server_no_context_takeover missing when we asked for it (§7.1.1.1)',
      'permessage-deflate',
      { serverNoContextTakeover: true },
    ],
    [
      'server_no_context_takeover missing with every other parameter present (§7.1.1.1)',
      'permessage-deflate; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9',
      { serverNoContextTakeover: true, serverMaxWindowBits: 9 },
    ],
    ['server_max_window_bits without a value (§7.1.2.1)', 'permessage-deflate; server_max_window_bits', {}],
    ['server_max_window_bits=7 (§7.1.2.1)', 'permessage-deflate; server_max_window_bits=7', {}],
    ['server_max_window_bits=16 (§7.1.2.1)', 'permessage-deflate; server_max_window_bits=16', {}],
    ['server_max_window_bits=08 (§7.1.2.1 no leading zeroes)', 'permessage-deflate; server_max_window_bits=08', {}],
    ['server_max_window_bits=1a (§7.1.2.1)', 'permessage-deflate; server_max_window_bits=1a', {}],
    ['client_max_window_bits=7 (§7.1.2.2)', 'permessage-deflate; client_max_window_bits=7', {}],
    ['client_max_window_bits=16 (§7.1.2.2)', 'permessage-deflate; client_max_window_bits=16', {}],
    ['client_max_window_bits=09 (§7.1.2.2 no leading zeroes)', 'permessage-deflate; client_max_window_bits=09', {}],
    ['a quoted client_max_window_bits="016" (§7.1.2.2)', 'permessage-deflate; client_max_window_bits="016"', {}],
  ];
  for (const [name, header, offer] of fail) {
    it(`fails ${name}: ${JSON.stringify(header)} for offer ${JSON.stringify(offer)}`, () => {
      const r = checkDeflateResponse(parseOne(header), offer);
      assert.equal(r.ok, false);
      assert.ok(!r.ok && typeof r.reason === 'string' && r.reason.length > 0, 'a reason is given');
    });
  }

  it('fails an empty client_max_window_bits value', () => {
    const r = checkDeflateResponse({ name: 'permessage-deflate', params: [['client_max_window_bits', '']] }, {});
    assert.equal(r.ok, false);
  });

  const ok: [string, string, DeflateClientOffer | undefined, DeflateParams][] = [
    ['a bare response to the default offer', 'permessage-deflate', undefined, DEFAULT_PARAMS],
    ['a bare response to an empty options object', 'permessage-deflate', {}, DEFAULT_PARAMS],
    [
      'server_no_context_takeover unasked (§7.1.1.1 "MAY be included")',
      'permessage-deflate; server_no_context_takeover',
      {},
      params(true, false, 15, 15),
    ],
    [
      'server_no_context_takeover we asked for (§7.1.1.1)',
      'permessage-deflate; server_no_context_takeover',
      { serverNoContextTakeover: true },
      params(true, false, 15, 15),
    ],
    [
      'server_max_window_bits unasked (§7.1.2.1 "MAY include ... even if")',
      'permessage-deflate; server_max_window_bits=10',
      {},
      params(false, false, 10, 15),
    ],
    [
      'server_max_window_bits unasked with no client_max_window_bits offered',
      'permessage-deflate; server_max_window_bits=8',
      { clientMaxWindowBits: false },
      params(false, false, 8, 15),
    ],
    [
      'server_max_window_bits equal to our offer (§7.1.2.1)',
      'permessage-deflate; server_max_window_bits=10',
      { serverMaxWindowBits: 10 },
      params(false, false, 10, 15),
    ],
    [
      'server_max_window_bits smaller than our offer (§7.1.2.1)',
      'permessage-deflate; server_max_window_bits=8',
      { serverMaxWindowBits: 10 },
      params(false, false, 8, 15),
    ],
    [
      'client_no_context_takeover unasked sets clientNoContextTakeover (§7.1.1.2)',
      'permessage-deflate; client_no_context_takeover',
      {},
      params(false, true, 15, 15),
    ],
    [
      'our own client_no_context_takeover without an echo (§7.1.1.2)',
      'permessage-deflate',
      { clientNoContextTakeover: true },
      params(false, true, 15, 15),
    ],
    [
      'client_max_window_bits for our bare offer (§7.1.2.2)',
      'permessage-deflate; client_max_window_bits=9',
      {},
      params(false, false, 15, 9),
    ],
    [
      'client_max_window_bits=15 for our bare offer (§7.1.2.2)',
      'permessage-deflate; client_max_window_bits=15',
      { clientMaxWindowBits: true },
      params(false, false, 15, 15),
    ],
    [
      'client_max_window_bits equal to our value (§7.1.2.2)',
      'permessage-deflate; client_max_window_bits=10',
      { clientMaxWindowBits: 10 },
      params(false, false, 15, 10),
    ],
    [
      'client_max_window_bits smaller than our value (§7.1.2.2)',
      'permessage-deflate; client_max_window_bits=8',
      { clientMaxWindowBits: 10 },
      params(false, false, 15, 8),
    ],
    [
      'no client_max_window_bits when we offered a value: we keep ours (§7.1.2.2)',
      'permessage-deflate',
      { clientMaxWindowBits: 10 },
      params(false, false, 15, 10),
    ],
    [
      'no client_max_window_bits when we did not offer it',
      'permessage-deflate',
      { clientMaxWindowBits: false },
      DEFAULT_PARAMS,
    ],
    [
      'quoted values (RFC 6455 §9.1)',
      'permessage-deflate; server_max_window_bits="9"; client_max_window_bits="11"',
      { serverMaxWindowBits: 12 },
      params(false, false, 9, 11),
    ],
    [
      'every parameter, in reverse order',
      'permessage-deflate; client_max_window_bits=8; server_max_window_bits=9; client_no_context_takeover; server_no_context_takeover',
      { serverNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 12 },
      params(true, true, 9, 8),
    ],
  ];
  for (const [name, header, offer, expected] of ok) {
    it(`accepts ${name}: ${JSON.stringify(header)} for offer ${JSON.stringify(offer)}`, () => {
      assert.deepEqual(checkDeflateResponse(parseOne(header), offer), { ok: true, params: expected });
    });
  }
});

describe('checkDeflatePolicy (RFC 7692 §7.1.2 window bits 8..15)', () => {
  const good: DeflateServerPolicy[] = [
    {},
    { serverMaxWindowBits: 8, clientMaxWindowBits: 8 },
    { serverMaxWindowBits: 15, clientMaxWindowBits: 15 },
    { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 11 },
  ];
  for (const policy of good) {
    it(`accepts ${JSON.stringify(policy)}`, () => assert.doesNotThrow(() => checkDeflatePolicy(policy)));
  }

  const badValues: [string, number][] = [
    ['7', 7],
    ['16', 16],
    ['0', 0],
    ['-8', -8],
    ['9.5', 9.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
  ];
  for (const field of ['serverMaxWindowBits', 'clientMaxWindowBits'] as const) {
    for (const [name, v] of badValues) {
      it(`throws RangeError for ${field} ${name}`, () => {
        assert.throws(() => checkDeflatePolicy({ [field]: v }), RangeError);
      });
    }
  }
});
