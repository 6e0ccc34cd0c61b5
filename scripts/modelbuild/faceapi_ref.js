// Reference outputs of face-api.js itself (pure-JS tfjs CPU backend), for build_models.py.
// usage: node faceapi_ref.js <faceapi dist file> <model dir> <emotion|age_gender> <in.f32> <n> <out.f32>
// <in.f32>: n x 112 x 112 x 3 float32 (NHWC, RGB 0..255, little endian).
// <out.f32>: emotion -> n x 7 softmax; age_gender -> n x 3 (age, p_male, p_female).
'use strict';

const fs = require('fs');
const tf = require('@tensorflow/tfjs');

async function main() {
  const [distFile, modelDir, kind, inFile, nStr, outFile] = process.argv.slice(2);
  const faceapi = require(distFile);
  await tf.setBackend('cpu');
  await tf.ready();
  const n = parseInt(nStr, 10);
  const buf = fs.readFileSync(inFile);
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const per = 112 * 112 * 3;
  if (all.length !== n * per) throw new Error(`expected ${n * per} floats, got ${all.length}`);
  const net = kind === 'emotion' ? faceapi.nets.faceExpressionNet : faceapi.nets.ageGenderNet;
  await net.loadFromDisk(modelDir);
  const width = kind === 'emotion' ? 7 : 3;
  const out = new Float32Array(n * width);
  for (let i = 0; i < n; i += 1) {
    const x = tf.tensor4d(all.slice(i * per, (i + 1) * per), [1, 112, 112, 3], 'float32');
    if (kind === 'emotion') {
      const y = await net.forward(x);
      out.set(y.dataSync(), i * width);
      y.dispose();
    } else {
      const { age, gender } = await net.forward(x);
      out[i * width] = age.dataSync()[0];
      out.set(gender.dataSync(), i * width + 1);
      age.dispose();
      gender.dispose();
    }
    x.dispose();
  }
  fs.writeFileSync(outFile, Buffer.from(out.buffer));
  process.stdout.write(`${tf.getBackend()} ${tf.version_core} ${faceapi.version}\n`);
}

main().catch((err) => { process.stderr.write(`${err.stack || err}\n`); process.exit(1); });
