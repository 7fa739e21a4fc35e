import { closeSync } from 'node:fs';
import { clientConfig, L, pairHandshake, pki, pem } from './helpers.mjs';
const which = process.argv[2];
const r = await pairHandshake(new L.Config().setKeypairFile(pki('other.crt'), pki('other.key')), clientConfig({protocols: 'tlsv1.2'}), 'other.test');
console.log('hs', r.clientError?.message, r.serverError?.message);
if (which === 'getter') { try { r.cli.peerOcspCertStatus(); } catch (e) { console.log(e.message); } }
try { r.cli.ocspProcessResponse(pem(process.argv[3] ?? 'ocsp-other.der')); console.log('processed'); } catch (e) { console.log('proc err', e.name, e.op, e.message); }
console.log('alive');
