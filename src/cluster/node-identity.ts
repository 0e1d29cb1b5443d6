// How a node of a replicated store proves who it is to the peers it dials, without ever sending
// its secret.
//
// Theory of operation
//   The listening node speaks first on every inbound replication session: a challenge with its
//   own id and 32 fresh random bytes. The dialing node's hello answers it with a proof over the
//   transcript (both node ids and the challenge), so a proof is good for one session, one pair
//   of nodes and one direction, and a recorded hello is worth nothing later:
//
//     dialer D                                    listener L
//       CONNECT  credentials = tag(clusterSecret)  ->      (a cheap filter: wrong secret, refused)
//                <-  challenge {node: L, c: 32 random bytes}
//       hello {node: D, ready, mac?, sig?}          ->      verified against D's keys, else abort
//
//   - mac: HMAC-SHA256 under clusterSecret. Keeps out everyone who lacks the secret (the secret is
//     never on the wire; the CONNECT tag is an HMAC of a fixed label, not the secret). Every
//     member holds the secret, so with a secret alone a member could still pose as another.
//   - sig: Ed25519 under the dialing node's own private key (`nodeKey`), checked with the public
//     key configured for that peer (`peers[].publicKey`). No node holds another's private key,
//     so no node can speak for another. When a peer has a public key, its hello must carry a
//     valid signature; when a secret is set, a valid mac. Both may be required at once.
//   - Without either (loopback only: ReplicationNode refuses to listen elsewhere without one),
//     a hello needs no proof, as before.
//   The challenge also names the listener, so a dialer that reached the wrong node (or an
//   impostor at a peer's address) resets the link instead of streaming to it; an impostor who
//   can answer with the right name still gets nothing it could not read on the wire: use TLS
//   (docs/security.md) for confidentiality and to authenticate the listener.

import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  timingSafeEqual,
  verify,
  type KeyObject,
} from 'node:crypto';
import { isIP } from 'node:net';
import { SessionError } from '../engine/errors.js';

const LABEL = 'colloquy-cluster/1';

/** A fresh Ed25519 key pair for one node, as PEM text: `nodeKey` for that node, `publicKey` in its peers' lists. */
export function generateNodeKey(): { privateKey: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** What a dialer presents in CONNECT when a secret is set: proves knowledge of it, reveals nothing. */
export function clusterTag(secret: string): string {
  return createHmac('sha256', secret).update(`${LABEL}:connect`).digest('base64url');
}

export function newChallenge(): string {
  return randomBytes(32).toString('base64url');
}

function transcript(dialer: string, listener: string, challenge: string): Buffer {
  return Buffer.from(`${LABEL}:hello\n${dialer}\n${listener}\n${challenge}`, 'utf8');
}

export interface Proof {
  mac?: string;
  sig?: string;
}

/** The dialer's answer to a challenge. */
export function proveHello(
  keys: { secret?: string; privateKey?: KeyObject },
  dialer: string,
  listener: string,
  challenge: string,
): Proof {
  const t = transcript(dialer, listener, challenge);
  return {
    ...(keys.secret !== undefined ? { mac: createHmac('sha256', keys.secret).update(t).digest('base64url') } : {}),
    ...(keys.privateKey ? { sig: sign(null, t, keys.privateKey).toString('base64url') } : {}),
  };
}

/** Checks a hello's proof; returns why it fails, or null when it holds. */
export function checkHello(
  keys: { secret?: string; publicKey?: KeyObject },
  dialer: string,
  listener: string,
  challenge: string,
  proof: Proof,
): string | null {
  const t = transcript(dialer, listener, challenge);
  if (keys.secret !== undefined) {
    if (proof.mac === undefined) return 'the hello carries no proof of the cluster secret';
    const want = createHmac('sha256', keys.secret).update(t).digest();
    const got = Buffer.from(proof.mac, 'base64url');
    if (got.length !== want.length || !timingSafeEqual(got, want))
      return "the hello's proof of the cluster secret is wrong";
  }
  if (keys.publicKey) {
    if (proof.sig === undefined) return `the hello carries no signature by node ${dialer}'s key`;
    if (!verify(null, t, keys.publicKey, Buffer.from(proof.sig, 'base64url')))
      return `the hello is not signed by node ${dialer}'s key`;
  }
  return null;
}

export function privateKeyOf(pem: string): KeyObject {
  try {
    const k = createPrivateKey(pem);
    if (k.asymmetricKeyType !== 'ed25519') throw new Error(`a ${String(k.asymmetricKeyType)} key`);
    return k;
  } catch (error) {
    throw new SessionError(
      'ERR_INVALID_ARGUMENT',
      `nodeKey must be an Ed25519 private key in PEM (generateNodeKey()): ${error instanceof Error ? error.message : String(error)}`,
      'local',
    );
  }
}

export function publicKeyOf(pem: string, peer: string): KeyObject {
  try {
    const k = createPublicKey(pem);
    if (k.asymmetricKeyType !== 'ed25519') throw new Error(`a ${String(k.asymmetricKeyType)} key`);
    return k;
  } catch (error) {
    throw new SessionError(
      'ERR_INVALID_ARGUMENT',
      `the publicKey of peer ${peer} must be an Ed25519 public key in PEM: ${error instanceof Error ? error.message : String(error)}`,
      'local',
    );
  }
}

/** True for names and addresses that only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h.startsWith('::ffff:127.');
}
