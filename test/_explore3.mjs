import { closeSync, readFileSync } from 'node:fs';
import { clientConfig, L, pairHandshake, serverConfig, pki, pem, untilDone } from './helpers.mjs';
async function probe(label, scfg, ccfg, name='localhost') {
  const r = await pairHandshake(scfg, ccfg, name);
  const fmt = (e) => e ? `${e.name} op=${e.op} msg=${JSON.stringify(e.message)}` : 'ok';
  console.log(label, '| client:', fmt(r.clientError), '| server:', fmt(r.serverError));
  return r;
}
function done(r){ r.cli.free(); r.acc.free(); r.srv.free(); for (const f of r.fds) closeSync(f); }
function ocsp(t) {
  const o = {};
  for (const m of ['peerOcspCertStatus','peerOcspResponseStatus','peerOcspCrlReason','peerOcspThisUpdate','peerOcspNextUpdate','peerOcspRevocationTime','peerOcspResult','peerOcspUrl']) {
    try { o[m] = t[m](); } catch (e) { o[m] = `${e.name}/${e.op}/${e.message}`; }
  }
  console.log(o);
}
console.log('now', Math.floor(Date.now()/1000), 'GOOD', L.OCSP_CERT_GOOD, 'REV', L.OCSP_CERT_REVOKED, 'SUCC', L.OCSP_RESPONSE_SUCCESSFUL, 'KC', L.CRL_REASON_KEY_COMPROMISE);
for (const p of ['tlsv1.2', 'tlsv1.3']) {
let r = await probe('good keypairfile '+p, new L.Config().setKeypairFile(pki('server.crt'), pki('server.key'), pki('ocsp-good.der')), clientConfig({protocols: p})); ocsp(r.cli); done(r);
r = await probe('good staplefile '+p, serverConfig().setOcspStapleFile(pki('ocsp-good.der')), clientConfig({protocols: p, ocspRequireStapling: true})); ocsp(r.cli); done(r);
r = await probe('good opt '+p, serverConfig({ocspStaple: pem('ocsp-good.der')}), clientConfig({protocols: p})); ocsp(r.cli); done(r);
r = await probe('revoked '+p, new L.Config().setKeypairFile(pki('revoked.crt'), pki('revoked.key'), pki('ocsp-revoked.der')), clientConfig({protocols: p})); if(!r.clientError) ocsp(r.cli); done(r);
r = await probe('stale '+p, serverConfig().setOcspStapleFile(pki('ocsp-stale.der')), clientConfig({protocols: p})); if(!r.clientError) ocsp(r.cli); done(r);
r = await probe('garbage '+p, serverConfig().setOcspStapleFile(pki('ocsp-garbage.der')), clientConfig({protocols: p})); if(!r.clientError) ocsp(r.cli); done(r);
r = await probe('other '+p, serverConfig().setOcspStapleFile(pki('ocsp-other.der')), clientConfig({protocols: p})); if(!r.clientError) ocsp(r.cli); done(r);
r = await probe('require none '+p, serverConfig(), clientConfig({protocols: p, ocspRequireStapling: true})); if(!r.clientError) ocsp(r.cli); done(r);
r = await probe('none '+p, serverConfig(), clientConfig({protocols: p})); ocsp(r.cli);
try { r.cli.ocspProcessResponse(pem('ocsp-good.der')); console.log('processed'); } catch (e) { console.log('proc err', e.message); }
ocsp(r.cli); done(r);
r = await probe('revoked nostaple '+p, new L.Config().setKeypairFile(pki('revoked.crt'), pki('revoked.key')), clientConfig({protocols: p}));
try { r.cli.ocspProcessResponse(pem('ocsp-revoked.der')); console.log('processed'); } catch (e) { console.log('proc err', e.name, e.op, e.message); }
ocsp(r.cli); done(r);
}
let r = await probe('proc stale', serverConfig(), clientConfig());
try { r.cli.ocspProcessResponse(pem('ocsp-stale.der')); console.log('processed'); } catch (e) { console.log('proc err', e.name, e.op, e.message); }
ocsp(r.cli); done(r);
r = await probe('proc wrong cert', serverConfig(), clientConfig());

ocsp(r.cli); done(r);
r = await probe('proc garbage', serverConfig(), clientConfig());
try { r.cli.ocspProcessResponse(pem('ocsp-garbage.der')); console.log('processed'); } catch (e) { console.log('proc err', e.name, e.op, e.message); }
try { r.cli.ocspProcessResponse(pem('ocsp-good.der')); console.log('processed'); } catch (e) { console.log('proc err', e.name, e.op, e.message); }
ocsp(r.cli); done(r);
