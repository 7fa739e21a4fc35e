import { closeSync, readFileSync } from 'node:fs';
import { clientConfig, L, pairHandshake, serverConfig, pki, pem } from './helpers.mjs';
async function probe(label, scfg, ccfg, name='localhost') {
  const r = await pairHandshake(scfg, ccfg, name);
  const fmt = (e) => e ? `${e.name} op=${e.op} msg=${JSON.stringify(e.message)}` : 'ok';
  console.log(label, '| client:', fmt(r.clientError), '| server:', fmt(r.serverError));
  return r;
}
function done(r){ r.cli.free(); r.acc.free(); r.srv.free(); for (const f of r.fds) closeSync(f); }
const sv = (c,k)=> new L.Config({certFile: pki(c), keyFile: pki(k)});
done(await probe('unknown CA default', serverConfig(), new L.Config()));
done(await probe('unknown CA selfsigned', serverConfig(), new L.Config({ca: pem('selfsigned.crt')})));
done(await probe('unknown CA noverifycert', serverConfig(), new L.Config().insecureNoVerifyCert()));
done(await probe('wrong name', serverConfig(), clientConfig(), 'wrong.test'));
done(await probe('wrong name notime', serverConfig(), clientConfig().insecureNoVerifyTime(), 'wrong.test'));
done(await probe('wrong name noname', serverConfig(), clientConfig().insecureNoVerifyName(), 'wrong.test'));
done(await probe('expired', sv('expired.crt','expired.key'), clientConfig()));
done(await probe('expired noname', sv('expired.crt','expired.key'), clientConfig().insecureNoVerifyName()));
done(await probe('expired notime', sv('expired.crt','expired.key'), clientConfig().insecureNoVerifyTime()));
done(await probe('notyet', sv('notyet.crt','notyet.key'), clientConfig()));
done(await probe('notyet notime', sv('notyet.crt','notyet.key'), clientConfig().insecureNoVerifyTime()));
done(await probe('selfsigned', sv('selfsigned.crt','selfsigned.key'), clientConfig()));
done(await probe('selfsigned nvc', sv('selfsigned.crt','selfsigned.key'), clientConfig().insecureNoVerifyCert()));
done(await probe('revoked crlfile', sv('revoked.crt','revoked.key'), clientConfig({crlFile: pki('crl.pem')})));
done(await probe('revoked crl mem', sv('revoked.crt','revoked.key'), clientConfig().setCrl(pem('crl.pem'))));
done(await probe('revoked nocrl', sv('revoked.crt','revoked.key'), clientConfig()));
done(await probe('server with crl', serverConfig(), clientConfig({crlFile: pki('crl.pem')})));
let r = await probe('nulsan localhost', sv('nulsan.crt','nulsan.key'), clientConfig());
done(r);
r = await probe('nulsan nulsan.test', sv('nulsan.crt','nulsan.key'), clientConfig(), 'nulsan.test'); done(r);
r = await probe('nulsan noname', sv('nulsan.crt','nulsan.key'), clientConfig().insecureNoVerifyName());
for (const n of ['localhost','localhost\0.evil.test','nulsan.test','.evil.test']) { try { console.log(' contains', JSON.stringify(n), r.cli.peerCertContainsName(n)); } catch(e){console.log(' contains', JSON.stringify(n), e.name, e.message)} }
done(r);
r = await probe('server names', serverConfig(), clientConfig());
for (const n of ['localhost','LOCALHOST','LocalHost','127.0.0.1','::1','0:0:0:0:0:0:0:1','other.test','127.0.0.2','localhost.']) console.log(' contains', n, r.cli.peerCertContainsName(n));
console.log(r.cli.peerCertSubject(), '|', r.cli.peerCertIssuer(), r.cli.peerCertHash(), r.cli.peerCertNotBefore(), r.cli.peerCertNotAfter(), r.cli.connCipher(), r.cli.connCipherStrength(), r.cli.connAlpnSelected(), r.acc.connServername(), r.cli.connServername());
console.log('server side peer', r.acc.peerCertProvided(), r.acc.peerCertSubject(), r.acc.peerCertHash());
done(r);
r = await probe('other names', sv('other.crt','other.key'), clientConfig(), 'other.test');
for (const n of ['other.test','a.wild.test','A.WILD.TEST','a.b.wild.test','wild.test','*.wild.test','localhost']) console.log(' contains', n, r.cli.peerCertContainsName(n));
done(r);
