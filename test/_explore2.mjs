import { closeSync, readFileSync } from 'node:fs';
import { clientConfig, L, pairHandshake, serverConfig, pki, pem, untilDone } from './helpers.mjs';
async function probe(label, scfg, ccfg, name='localhost') {
  const r = await pairHandshake(scfg, ccfg, name);
  const fmt = (e) => e ? `${e.name} op=${e.op} msg=${JSON.stringify(e.message)}` : 'ok';
  console.log(label, '| client:', fmt(r.clientError), '| server:', fmt(r.serverError));
  return r;
}
function done(r){ r.cli.free(); r.acc.free(); r.srv.free(); for (const f of r.fds) closeSync(f); }
const cc = () => clientConfig({certFile: pki('client.crt'), keyFile: pki('client.key')});
let r;
for (const p of ['tlsv1.2','tlsv1.3']) {
  r = await probe('vc+cert '+p, serverConfig({verifyClient: true, caFile: pki('ca.crt')}), cc().setProtocols(p));
  console.log(r.acc.peerCertProvided(), r.acc.peerCertSubject(), r.acc.peerCertIssuer(), r.cli.connVersion()); done(r);
  r = await probe('vc nocert '+p, serverConfig({verifyClient: true, caFile: pki('ca.crt')}), clientConfig().setProtocols(p));
  if (!r.clientError) {
    let x; try { x = await untilDone(() => r.cli.read(), r.fds[0], 2000); console.log('read ->', x); } catch (e) { console.log('read err', e.name, e.op, JSON.stringify(e.message)); }
  }
  done(r);
  r = await probe('vco nocert '+p, serverConfig({verifyClient: 'optional', caFile: pki('ca.crt')}), clientConfig().setProtocols(p));
  console.log(r.acc.peerCertProvided(), r.acc.peerCertSubject()); done(r);
  r = await probe('vco cert '+p, serverConfig({verifyClient: 'optional', caFile: pki('ca.crt')}), cc().setProtocols(p));
  console.log(r.acc.peerCertProvided(), r.acc.peerCertSubject()); done(r);
  r = await probe('vc selfsigned client '+p, serverConfig({verifyClient: true, caFile: pki('ca.crt')}), clientConfig({certFile: pki('selfsigned.crt'), keyFile: pki('selfsigned.key')}).setProtocols(p));
  done(r);
}
// vc without caFile on server?
r = await probe('vc server no ca', serverConfig({verifyClient: true}), cc()); done(r);
// ALPN
r = await probe('alpn', serverConfig({alpn: 'h2,http/1.1'}), clientConfig({alpn: 'http/1.1,h2'})); console.log(r.cli.connAlpnSelected(), r.acc.connAlpnSelected()); done(r);
r = await probe('alpn none overlap', serverConfig({alpn: 'h2'}), clientConfig({alpn: 'foo'})); console.log(r.clientError ? '' : r.cli.connAlpnSelected(), r.serverError? '' : r.acc.connAlpnSelected()); done(r);
r = await probe('alpn client only', serverConfig(), clientConfig({alpn: 'h2'})); console.log(r.cli.connAlpnSelected(), r.acc.connAlpnSelected()); done(r);
r = await probe('alpn server only', serverConfig({alpn: 'h2'}), clientConfig()); console.log(r.cli.connAlpnSelected(), r.acc.connAlpnSelected()); done(r);
// SNI
const sni = () => new L.Config().setKeypair(pem('server.crt'), pem('server.key')).addKeypair(pem('other.crt'), pem('other.key'));
for (const n of ['other.test','x.wild.test','localhost','unknown.test', '127.0.0.1']) {
  r = await probe('sni '+n, sni(), clientConfig().insecureNoVerifyName(), n);
  if (!r.clientError) console.log(r.cli.peerCertSubject(), r.acc.connServername(), r.cli.peerCertContainsName(n));
  done(r);
}
r = await probe('sni verify x.wild.test', sni(), clientConfig(), 'x.wild.test'); console.log(r.cli.peerCertSubject(), r.acc.connServername()); done(r);
// chain
r = await probe('chain', new L.Config({certFile: pki('server-chain.pem'), keyFile: pki('server.key')}), clientConfig());
console.log(JSON.stringify(r.cli.peerCertChainPem())); done(r);
r = await probe('nochain', serverConfig(), clientConfig());
console.log(JSON.stringify(r.cli.peerCertChainPem())); 
for (const p of ['tlsv1.2']) {}
done(r);
for (const [p, c] of [['tlsv1.2', 'ECDHE-ECDSA-AES128-GCM-SHA256'], ['tlsv1.2','ECDHE-ECDSA-CHACHA20-POLY1305'], ['tlsv1.2','ECDHE-ECDSA-AES256-GCM-SHA384']]) {
  r = await probe('cipher', serverConfig({ciphers: c}), clientConfig({protocols: p}));
  console.log(r.cli.connVersion(), r.cli.connCipher(), r.cli.connCipherStrength(), r.acc.connCipher(), r.acc.connCipherStrength()); done(r);
}
