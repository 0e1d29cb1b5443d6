// The token suite: access tokens, refresh rotation, reuse detection, revocation and key rotation,
// run unchanged on each store (memory, Redis), with a fake clock; the browser flow (refresh token
// in an HttpOnly cookie) and the JWKS endpoint over a real loopback server driven by fetch.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, SignJWT, UnsecuredJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionError } from '../../src/engine/errors.js';
import type { SessionStore } from '../../src/store/store.js';
import { SigningKeys, TokenService, type TokenServiceOptions } from '../../src/web/index.js';
import { outageStore, type StoreFactory } from './suite.js';

async function code(p: Promise<unknown>): Promise<{ code: string; reason?: unknown }> {
  const e = await p.then(
    () => null,
    (error: unknown) => error,
  );
  expect(e).toBeInstanceOf(SessionError);
  return { code: (e as SessionError).code, reason: (e as SessionError).details.reason };
}

let spaces = 0;

export function tokenSuite(storeName: string, factory: StoreFactory): void {
  describe(`tokens, ${storeName} store`, () => {
    let t = 1_900_000_000_000;
    const now = (): number => t;
    const closers: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const c of closers.splice(0)) await c();
    });

    async function service(
      options: Partial<TokenServiceOptions> = {},
    ): Promise<{ tokens: TokenService; keys: SigningKeys; store: SessionStore }> {
      const store = options.store ?? (await factory.make());
      const keys = options.keys ?? (await SigningKeys.generate({ now }));
      const tokens = new TokenService({
        keys,
        store,
        issuer: 'https://id.colloquy.test',
        audience: 'colloquy-api',
        now,
        namespace: `tok${process.pid}x${++spaces}`,
        ...options,
      });
      return { tokens, keys, store };
    }

    it('issues EdDSA access tokens with pinned header and claims, lasting at most 15 minutes', async () => {
      const { tokens, keys } = await service();
      const pair = await tokens.issue('ada', { claims: { role: 'admin' } });
      const header = decodeProtectedHeader(pair.accessToken);
      expect(header).toEqual({ alg: 'EdDSA', kid: keys.current().kid, typ: 'at+jwt' });
      const claims = await tokens.verify(pair.accessToken);
      expect(claims).toMatchObject({
        iss: 'https://id.colloquy.test',
        aud: 'colloquy-api',
        sub: 'ada',
        role: 'admin',
        sid: pair.familyId,
      });
      expect(claims.exp - claims.iat).toBe(600);
      expect(typeof claims.jti).toBe('string');
      expect(pair.refreshToken).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
      expect(() => new TokenService({ keys, issuer: 'i', audience: 'a', accessTtlMs: 15 * 60_000 + 1 })).toThrow(
        /15 min/,
      );
      await expect(tokens.issue('ada', { claims: { sub: 'root' } })).rejects.toThrow(/set by the token service/);
      t += 600_000 + 5_001;
      expect(await code(tokens.verify(pair.accessToken))).toEqual({ code: 'ERR_TOKEN_INVALID', reason: 'expired' });
    });

    it('refuses other algorithms, unsigned tokens, tampering, other issuers, audiences and keys', async () => {
      const { tokens, keys } = await service();
      const pair = await tokens.issue('ada');
      const kid = keys.current().kid;
      const hs = await new SignJWT({ sid: 'x' })
        .setProtectedHeader({ alg: 'HS256', kid, typ: 'at+jwt' })
        .setIssuer('https://id.colloquy.test')
        .setAudience('colloquy-api')
        .setSubject('root')
        .setJti('j')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode('k'.repeat(32)));
      expect((await code(tokens.verify(hs))).reason).toBe('algorithm');
      const none = new UnsecuredJWT({ sub: 'root', sid: 'x', jti: 'j' })
        .setIssuer('https://id.colloquy.test')
        .setAudience('colloquy-api')
        .setIssuedAt()
        .setExpirationTime('5m')
        .encode();
      expect((await code(tokens.verify(none))).code).toBe('ERR_TOKEN_INVALID');
      const [h, p, s] = pair.accessToken.split('.') as [string, string, string];
      const forged = Buffer.from(
        JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'root' }),
      ).toString('base64url');
      expect((await code(tokens.verify(`${h}.${forged}.${s}`))).reason).toBe('signature');
      expect((await code(tokens.verify('not.a.jwt'))).code).toBe('ERR_TOKEN_INVALID');
      const other = await service({ issuer: 'https://evil.test', keys });
      expect((await code(tokens.verify((await other.tokens.issue('ada')).accessToken))).reason).toBe('issuer');
      const aud = await service({ audience: 'another-api', keys });
      expect((await code(tokens.verify((await aud.tokens.issue('ada')).accessToken))).reason).toBe('audience');
      const foreign = await service();
      expect((await code(tokens.verify((await foreign.tokens.issue('ada')).accessToken))).reason).toBe('unknown-key');
    });

    it('rotates refresh tokens; a rotated token presented again revokes the whole family', async () => {
      const { tokens } = await service({ graceMs: 2000 });
      const first = await tokens.issue('ada');
      const second = await tokens.refresh(first.refreshToken);
      expect(second.refreshToken).not.toBe(first.refreshToken);
      expect(second.familyId).toBe(first.familyId);
      expect((await tokens.verify(second.accessToken)).sub).toBe('ada');
      t += 3000; // past the grace window
      const third = await tokens.refresh(second.refreshToken);
      // An attacker replays the first (stolen) token: reuse is detected, the family dies.
      expect((await code(tokens.refresh(first.refreshToken))).code).toBe('ERR_REFRESH_REUSED');
      expect(await code(tokens.refresh(third.refreshToken))).toEqual({
        code: 'ERR_REFRESH_INVALID',
        reason: 'unknown',
      });
      expect(await code(tokens.verify(third.accessToken))).toEqual({ code: 'ERR_TOKEN_INVALID', reason: 'revoked' });
      expect(await tokens.listFamilies('ada')).toEqual([]);
      // Another login of the same user is not affected.
      const other = await tokens.issue('ada');
      expect((await tokens.verify(other.accessToken)).sub).toBe('ada');
      expect(await code(tokens.refresh('garbage'))).toEqual({ code: 'ERR_REFRESH_INVALID', reason: 'malformed' });
      expect((await code(tokens.refresh(`${other.familyId}.${'x'.repeat(43)}`))).code).toBe('ERR_REFRESH_INVALID');
    });

    it('concurrent refreshes with one token within the grace window all get the same successor', async () => {
      const { tokens } = await service({ graceMs: 10_000 });
      const first = await tokens.issue('ada');
      const results = await Promise.all(Array.from({ length: 5 }, () => tokens.refresh(first.refreshToken)));
      expect(new Set(results.map((r) => r.refreshToken)).size).toBe(1);
      expect(new Set(results.map((r) => r.accessToken)).size).toBe(5);
      for (const r of results) expect((await tokens.verify(r.accessToken)).sub).toBe('ada');
      t += 1000;
      const next = await tokens.refresh((results[0] as { refreshToken: string }).refreshToken); // the family goes on
      t += 11_000;
      expect((await code(tokens.refresh(first.refreshToken))).code).toBe('ERR_REFRESH_REUSED');
      expect((await code(tokens.refresh(next.refreshToken))).code).toBe('ERR_REFRESH_INVALID');
    });

    it('a family ends at its absolute lifetime however often it is refreshed; an unused token at its own TTL', async () => {
      const { tokens } = await service({ familyLifetimeMs: 60 * 60_000, refreshTtlMs: 20 * 60_000 });
      let pair = await tokens.issue('ada');
      for (let i = 0; i < 5; i++) {
        t += 10 * 60_000;
        pair = await tokens.refresh(pair.refreshToken);
        expect(pair.refreshExpiresAt).toBeLessThanOrEqual(t - (i + 1) * 10 * 60_000 + 60 * 60_000);
      }
      t += 10 * 60_000; // 60 min after login
      expect(await code(tokens.refresh(pair.refreshToken))).toEqual({
        code: 'ERR_REFRESH_INVALID',
        reason: expect.stringMatching(/expired|unknown/),
      });
      const idle = await tokens.issue('ada');
      t += 20 * 60_000;
      expect((await code(tokens.refresh(idle.refreshToken))).code).toBe('ERR_REFRESH_INVALID');
    });

    it('deny-list by jti; logout revokes a family; revokeAll revokes every login of a subject', async () => {
      const { tokens } = await service();
      const a = await tokens.issue('ada');
      const b = await tokens.issue('ada');
      const c = await tokens.issue('bob');
      const claims = await tokens.verify(a.accessToken);
      await tokens.deny(claims.jti, claims.exp);
      expect(await code(tokens.verify(a.accessToken))).toEqual({ code: 'ERR_TOKEN_INVALID', reason: 'revoked' });
      const a2 = await tokens.refresh(a.refreshToken);
      expect((await tokens.verify(a2.accessToken)).sub).toBe('ada');
      expect(await tokens.revoke(a2.refreshToken)).toBe(true);
      expect((await code(tokens.refresh(a2.refreshToken))).code).toBe('ERR_REFRESH_INVALID');
      expect((await code(tokens.verify(a2.accessToken))).reason).toBe('revoked');
      expect((await tokens.listFamilies('ada')).map((f) => f.familyId)).toEqual([b.familyId]);
      expect(await tokens.revokeAll('ada')).toBe(1);
      expect((await code(tokens.verify(b.accessToken))).reason).toBe('revoked');
      expect((await code(tokens.refresh(b.refreshToken))).code).toBe('ERR_REFRESH_INVALID');
      expect((await tokens.verify(c.accessToken)).sub).toBe('bob');
    });

    it('signing-key rotation: new kid signs, old tokens verify until the key retires; JWKS follows; ES256 works too', async () => {
      const keys = await SigningKeys.generate({ now, retireAfterMs: 16 * 60_000 });
      const { tokens } = await service({ keys });
      const before = await tokens.issue('ada');
      const oldKid = keys.current().kid;
      const newKid = await keys.rotate();
      expect(newKid).not.toBe(oldKid);
      const after = await tokens.issue('ada');
      expect(decodeProtectedHeader(after.accessToken).kid).toBe(newKid);
      expect((await tokens.verify(before.accessToken)).sub).toBe('ada');
      const jwks = tokens.jwks();
      expect(jwks.keys.map((k) => k.kid)).toEqual([newKid, oldKid]);
      for (const k of jwks.keys) expect(k).not.toHaveProperty('d');
      // A third party verifies with the published JWKS alone.
      const remote = createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]);
      expect(
        (await jwtVerify(after.accessToken, remote, { algorithms: ['EdDSA'], currentDate: new Date(t) })).payload.sub,
      ).toBe('ada');
      t += 16 * 60_000;
      expect(tokens.jwks().keys.map((k) => k.kid)).toEqual([newKid]);
      expect((await code(tokens.verify(before.accessToken))).reason).toMatch(/unknown-key|expired/);
      // Another node loads the same ring.
      const copy = await SigningKeys.fromPrivate(await keys.exportPrivate(), { now });
      const { tokens: node2 } = await service({ keys: copy, store: tokens.store, namespace: undefined });
      const fresh = await tokens.issue('ada');
      expect((await node2.verify(fresh.accessToken)).sub).toBe('ada');
      const es = await SigningKeys.generate({ alg: 'ES256', now });
      const { tokens: esTokens } = await service({ keys: es });
      const esPair = await esTokens.issue('ada');
      expect(decodeProtectedHeader(esPair.accessToken).alg).toBe('ES256');
      expect((await esTokens.verify(esPair.accessToken)).sub).toBe('ada');
    });

    it('store outage: verify (deny-list) and refresh fail closed with ERR_STORE_TIMEOUT / ERR_STORE_UNAVAILABLE, never hang', async () => {
      const store = outageStore(await factory.make());
      const { tokens } = await service({ store, storeTimeoutMs: 200 });
      const pair = await tokens.issue('ada');
      for (const mode of ['hang', 'fail'] as const) {
        store.mode = mode;
        expect((await code(tokens.verify(pair.accessToken))).code).toMatch(/^ERR_STORE_(TIMEOUT|UNAVAILABLE)$/);
        expect((await code(tokens.refresh(pair.refreshToken))).code).toMatch(/^ERR_STORE_(TIMEOUT|UNAVAILABLE)$/);
      }
      store.mode = 'ok';
      expect((await tokens.verify((await tokens.refresh(pair.refreshToken)).accessToken)).sub).toBe('ada');
    });

    it('browser flow over HTTP: refresh token in an HttpOnly SameSite=Strict cookie, rotated on /auth/refresh; JWKS served', async () => {
      const { tokens } = await service({ graceMs: 0 });
      const server = http.createServer((req, res) => {
        void (async () => {
          const url = new URL(req.url ?? '/', 'http://x');
          if (url.pathname === '/auth/login') {
            const pair = await tokens.issue('ada');
            res.setHeader('set-cookie', tokens.refreshCookie(pair, { secure: false }));
            res.setHeader('content-type', 'application/json');
            res.end(JSON.stringify({ accessToken: pair.accessToken, expiresIn: pair.expiresIn }));
          } else if (url.pathname === '/auth/refresh') {
            const rt = tokens.readRefreshCookie(req.headers.cookie, { secure: false });
            try {
              const pair = await tokens.refresh(rt ?? '');
              res.setHeader('set-cookie', tokens.refreshCookie(pair, { secure: false }));
              res.end(JSON.stringify({ accessToken: pair.accessToken }));
            } catch (error) {
              res.statusCode = 401;
              res.setHeader('set-cookie', tokens.refreshCookie(null, { secure: false }));
              res.end(JSON.stringify({ error: (error as SessionError).code }));
            }
          } else if (url.pathname === '/.well-known/jwks.json') {
            const r = tokens.jwksResponse();
            res.writeHead(r.status, Object.fromEntries(r.headers)).end(await r.text());
          } else res.writeHead(404).end();
        })();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      closers.push(
        () =>
          new Promise((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      );
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const login = await fetch(`${base}/auth/login`, { method: 'POST' });
      const cookie = login.headers.getSetCookie()[0] as string;
      expect(cookie).toMatch(
        /^rt=[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}; Path=\/auth; Max-Age=\d+; HttpOnly; SameSite=Strict$/,
      );
      const r1 = await fetch(`${base}/auth/refresh`, {
        method: 'POST',
        headers: { cookie: cookie.split(';')[0] as string },
      });
      expect(r1.status).toBe(200);
      const rotated = r1.headers.getSetCookie()[0] as string;
      expect(rotated.split(';')[0]).not.toBe(cookie.split(';')[0]);
      // The old cookie again: reuse, the family is revoked and the cookie cleared.
      const r2 = await fetch(`${base}/auth/refresh`, {
        method: 'POST',
        headers: { cookie: cookie.split(';')[0] as string },
      });
      expect(r2.status).toBe(401);
      expect(await r2.json()).toEqual({ error: 'ERR_REFRESH_REUSED' });
      expect(r2.headers.getSetCookie()[0]).toMatch(/Max-Age=0/);
      const r3 = await fetch(`${base}/auth/refresh`, {
        method: 'POST',
        headers: { cookie: rotated.split(';')[0] as string },
      });
      expect(r3.status).toBe(401);
      const jwks = await fetch(`${base}/.well-known/jwks.json`);
      expect(jwks.headers.get('content-type')).toBe('application/jwk-set+json');
      expect(((await jwks.json()) as { keys: unknown[] }).keys).toHaveLength(1);
      expect(tokens.refreshCookie(null, { secure: true })).toMatch(
        /^__Secure-rt=; Path=\/auth; Max-Age=0; .*HttpOnly; Secure; SameSite=Strict$/,
      );
    });
  });
}
