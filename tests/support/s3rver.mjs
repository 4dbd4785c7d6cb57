// s3rver.mjs — a local S3 server for tests: s3rver (deploy/npm) on 127.0.0.1 with the given
// buckets, objects stored under a directory that survives a restart.
//
// Usage: node --openssl-legacy-provider tests/support/s3rver.mjs --port N --directory DIR \
//            --bucket NAME [--bucket ...]
// Prints "s3rver listening on 127.0.0.1:N" once it serves requests. Any access key works
// (credentials S3RVER / S3RVER); buckets are addressed path-style. s3rver makes its
// ListObjectsV2 continuation tokens with DES, which Node.js's OpenSSL 3 offers only with
// --openssl-legacy-provider (without it every truncated listing answers 500).
//
// s3rver 3.7.1 departs from S3 where the file system relies on S3's answers; the middleware
// below answers as the S3 API reference documents:
//   * AbortMultipartUpload (DELETE /bucket/key?uploadId=ID): 204, the parts are gone
//     (s3rver: 405 MethodNotAllowed);
//   * NoSuchUpload (404) for an upload id that does not exist, on abort and on
//     CompleteMultipartUpload (s3rver: 500 InternalError);
//   * InvalidRange (416) for a ranged GET of an empty object (s3rver: a Content-Length of 1
//     and no body);
//   * DeleteObjects of several keys in one directory deletes them all (s3rver deletes them
//     concurrently, and the one that finds the directory it empties gone answers 500).

import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const scriptDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(scriptDir, '..', '..');
const require = createRequire(path.join(repoRoot, 'deploy', 'npm', 'package.json'));
const S3rver = require('s3rver');
const S3Error = require('s3rver/lib/models/error');

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    directory: { type: 'string' },
    bucket: { type: 'string', multiple: true, default: [] },
  },
});
if (!values.port || !values.directory) {
  process.stderr.write('usage: node s3rver.mjs --port N --directory DIR --bucket NAME...\n');
  process.exit(2);
}
fs.mkdirSync(values.directory, { recursive: true });

const server = new S3rver({
  port: Number(values.port),
  address: '127.0.0.1',
  silent: true,
  directory: values.directory,
  configureBuckets: values.bucket.map(name => ({ name })),
});

const deleteObject = server.store.deleteObject.bind(server.store);
server.store.deleteObject = async (bucket, key) => {
  try {
    await deleteObject(bucket, key);
  } catch (err) {
    // The object's files are gone; only removing its emptied directories raced.
    if (err.code !== 'ENOENT' && err.code !== 'ENOTEMPTY') throw err;
  }
};

async function rangeOfEmptyObject(ctx, next) {
  const match = /^\/([^/]+)\/(.+)$/.exec(ctx.path);
  if (!match || ctx.method !== 'GET' || !/^bytes=/.test(ctx.get('range'))) return next();
  const objectPath = server.store.getResourcePath(match[1], decodeURIComponent(match[2]), 'object');
  if (fs.existsSync(objectPath) && fs.statSync(objectPath).size === 0) {
    throw new S3Error('InvalidRange', 'The requested range is not satisfiable', {
      RangeRequested: ctx.get('range'),
      ActualObjectSize: 0,
    });
  }
  return next();
}

async function multipartUploadIds(ctx, next) {
  const match = /^\/([^/]+)\/.+$/.exec(ctx.path);
  const uploadId = ctx.query.uploadId;
  if (!match || typeof uploadId !== 'string' || !['DELETE', 'POST'].includes(ctx.method)) {
    return next();
  }
  const uploadDir = path.join(server.store.getResourcePath(match[1], undefined, 'uploads'), uploadId);
  if (!/^[0-9a-f]+$/.test(uploadId) || !fs.existsSync(uploadDir)) {
    throw new S3Error(
      'NoSuchUpload',
      'The specified upload does not exist. The upload ID may be invalid, or the upload ' +
        'may have been aborted or completed.',
      { UploadId: uploadId },
    );
  }
  if (ctx.method === 'DELETE') {
    fs.rmSync(uploadDir, { recursive: true, force: true });
    ctx.status = 204;
    return;
  }
  return next();
}
// Before the router (the last middleware), after s3rver's XML and error handling.
server.middleware.splice(server.middleware.length - 1, 0, multipartUploadIds, rangeOfEmptyObject);

const address = await server.run();
process.stdout.write(`s3rver listening on ${address.address}:${address.port}\n`);
