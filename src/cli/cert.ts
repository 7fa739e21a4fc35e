// A throwaway self-signed certificate (its own CA), made in memory (for `libtls serve` without --cert, and
// `libtls demo`): RSA-2048 from Node's crypto, the X.509 structure from node-forge; valid for a
// day; names localhost, 127.0.0.1, ::1 and the extra names or addresses it is given.
import { createHash, generateKeyPair, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import forge from 'node-forge';

export interface Throwaway {
  cert: string;
  key: string;
  /** `"SHA256:<hex>"` of the DER, as libtls's `peerCertHash()` reports it. */
  hash: string;
}

export async function throwawayCertificate(name = 'localhost', extra: string[] = []): Promise<Throwaway> {
  const { privateKey, publicKey } = await promisify(generateKeyPair)('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 60_000);
  cert.validity.notAfter = new Date(now + 24 * 3600_000);
  const subject = [{ name: 'commonName', value: name }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    // its own trust anchor: OpenSSL's verifier accepts a self-signed leaf in the trust store as
    // is, LibreSSL's only a CA certificate (CA:TRUE, keyCertSign), so it is one (docs/backends.md)
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        { type: 2, value: name },
        { type: 7, ip: '127.0.0.1' },
        { type: 7, ip: '::1' },
        ...extra
          .filter((n) => n !== name && n !== '127.0.0.1' && n !== '::1' && n !== '0.0.0.0' && n !== '::')
          .map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n })),
      ],
    },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create());
  const der = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
  return {
    cert: forge.pki.certificateToPem(cert),
    key: privateKey,
    hash: `SHA256:${createHash('sha256').update(der).digest('hex')}`,
  };
}
