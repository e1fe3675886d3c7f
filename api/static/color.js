// "Keep the photo's colours" in the browser: the library's match_color (stylize/pipelines/color.py),
// an affine map of the painting's RGB so its mean and covariance become the photo's.

function meanCov(image) {
  const d = image.data, n = d.length / 4;
  const mean = [0, 0, 0];
  for (let i = 0; i < d.length; i += 4) for (let c = 0; c < 3; c++) mean[c] += d[i + c] / 255;
  for (let c = 0; c < 3; c++) mean[c] /= n;
  const cov = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  for (let i = 0; i < d.length; i += 4) {
    const v = [d[i] / 255 - mean[0], d[i + 1] / 255 - mean[1], d[i + 2] / 255 - mean[2]];
    for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) cov[a][b] += v[a] * v[b];
  }
  for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) cov[a][b] = cov[a][b] / n + (a === b ? 1e-5 : 0);
  return { mean, cov };
}

// Eigen-decomposition of a symmetric 3x3 matrix by Jacobi rotations: [values, vectors as columns].
function eigenSymmetric(matrix) {
  const a = matrix.map((row) => row.slice());
  const v = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
  for (let sweep = 0; sweep < 50; sweep++) {
    const off = Math.abs(a[0][1]) + Math.abs(a[0][2]) + Math.abs(a[1][2]);
    if (off < 1e-15) break;
    for (const [p, q] of [[0, 1], [0, 2], [1, 2]]) {
      if (Math.abs(a[p][q]) < 1e-18) continue;
      const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1), s = t * c;
      for (let k = 0; k < 3; k++) {  // a = J^T a J
        const akp = a[k][p], akq = a[k][q];
        a[k][p] = c * akp - s * akq; a[k][q] = s * akp + c * akq;
      }
      for (let k = 0; k < 3; k++) {
        const apk = a[p][k], aqk = a[q][k];
        a[p][k] = c * apk - s * aqk; a[q][k] = s * apk + c * aqk;
      }
      for (let k = 0; k < 3; k++) {
        const vkp = v[k][p], vkq = v[k][q];
        v[k][p] = c * vkp - s * vkq; v[k][q] = s * vkp + c * vkq;
      }
    }
  }
  return [[a[0][0], a[1][1], a[2][2]], v];
}

function sqrtm(cov, inverse) {
  const [values, v] = eigenSymmetric(cov);
  const root = values.map((x) => Math.sqrt(Math.max(x, 1e-8)));
  const scale = inverse ? root.map((r) => 1 / r) : root;
  const out = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) out[i][j] += v[i][k] * scale[k] * v[j][k];
  return out;
}

// A copy of `painting` (ImageData) with the photo's colour mean and covariance.
export function matchColor(painting, photo) {
  const source = meanCov(painting), target = meanCov(photo);
  const a = sqrtm(target.cov, false), b = sqrtm(source.cov, true);
  const m = [0, 1, 2].map((i) => [0, 1, 2].map((j) => a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j]));
  const out = new ImageData(painting.width, painting.height);
  const d = painting.data;
  for (let i = 0; i < d.length; i += 4) {
    const v = [d[i] / 255 - source.mean[0], d[i + 1] / 255 - source.mean[1], d[i + 2] / 255 - source.mean[2]];
    for (let c = 0; c < 3; c++) {
      const x = m[c][0] * v[0] + m[c][1] * v[1] + m[c][2] * v[2] + target.mean[c];
      out.data[i + c] = Math.round(Math.min(1, Math.max(0, x)) * 255);
    }
    out.data[i + 3] = 255;
  }
  return out;
}
