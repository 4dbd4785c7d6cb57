// s3_client.mjs — an S3 client independent of Eddy (@aws-sdk/client-s3 from deploy/npm),
// so that tests read back what Eddy wrote, and write what Eddy reads, another way.
//
// Usage: node tests/support/s3_client.mjs --endpoint URL COMMAND ARGS
//   list BUCKET PREFIX     prints "key size" per object, in key order
//   get BUCKET KEY         prints the object's bytes
//   put BUCKET KEY FILE    uploads FILE as KEY
// Path-style, region us-east-1, credentials S3RVER / S3RVER (unless AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY are set). Errors go to stderr with exit code 1.

import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const scriptDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(scriptDir, '..', '..');
// The SDK warns on stderr about Node.js versions it will stop supporting; not our concern.
process.removeAllListeners('warning');
const require = createRequire(path.join(repoRoot, 'deploy', 'npm', 'package.json'));
const {
  S3Client,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} = require('@aws-sdk/client-s3');

const { values, positionals } = parseArgs({
  options: { endpoint: { type: 'string' } },
  allowPositionals: true,
});
const [command, bucket, ...rest] = positionals;
if (!values.endpoint || !command || !bucket) {
  process.stderr.write('usage: node s3_client.mjs --endpoint URL list|get|put BUCKET ...\n');
  process.exit(2);
}

const client = new S3Client({
  endpoint: values.endpoint,
  forcePathStyle: true,
  region: 'us-east-1',
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID || 'S3RVER',
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY || 'S3RVER',
  },
  maxAttempts: 1,
});

async function main() {
  switch (command) {
    case 'list': {
      let token;
      do {
        const page = await client.send(new ListObjectsV2Command({
          Bucket: bucket, Prefix: rest[0] || '', ContinuationToken: token,
        }));
        for (const object of page.Contents || []) {
          process.stdout.write(`${object.Key} ${object.Size}\n`);
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      break;
    }
    case 'get': {
      const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: rest[0] }));
      process.stdout.write(Buffer.from(await object.Body.transformToByteArray()));
      break;
    }
    case 'put': {
      await client.send(new PutObjectCommand({
        Bucket: bucket, Key: rest[0], Body: fs.readFileSync(rest[1]),
      }));
      break;
    }
    default:
      throw new Error(`unknown command '${command}'`);
  }
}

main().catch(err => {
  process.stderr.write(`s3_client: ${command} ${bucket} ${rest.join(' ')}: ${err.name}: ${err.message}\n`);
  process.exit(1);
});
