/**
 * Teaches s3rver the multipart operations it lacks and the DR copy relies on: UploadPartCopy (with
 * `x-amz-copy-source-range` and `-if-match`), ListParts, ListMultipartUploads and AbortMultipartUpload.
 * They work on s3rver's own upload folders, so CreateMultipartUpload, UploadPart and
 * CompleteMultipartUpload (s3rver's) and these see the same uploads, and the SDK's real serializers and
 * XML parsers run over real HTTP. Installed by `startLocalS3` before the server starts.
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

const require = createRequire(import.meta.url);

interface KoaContext {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string | string[] | undefined>;
  readonly headers: Record<string, string | string[] | undefined>;
  body: unknown;
  status: number;
}
type Middleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

interface FilesystemStore {
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  getObject(bucket: string, key: string, range?: { start: number; end: number }): Promise<
    { content: Readable | null; metadata: Record<string, string | number> } | null
  >;
  putPart(bucket: string, uploadId: string, partNumber: number, content: Readable): Promise<{ size: number; md5: string }>;
}

const S3Error = require('s3rver/lib/models/error.js') as new (code: string, message: string) => Error & { status: number };

/** Adds the middleware in front of s3rver's router (Koa composes `middleware` when the server starts). */
export function installMultipartCopy(server: { middleware: Middleware[]; store: FilesystemStore }): void {
  const handler = multipartCopyMiddleware(server.store);
  // The router is last; the XML encoder is before it, so plain-object bodies set here become S3 XML.
  server.middleware.splice(server.middleware.length - 1, 0, handler);
}

function multipartCopyMiddleware(store: FilesystemStore): Middleware {
  return async (ctx, next) => {
    const [bucket, ...rest] = ctx.path.replace(/^\//, '').split('/');
    const key = rest.map(decodeURIComponent).join('/');
    const uploadId = single(ctx.query.uploadId);
    if (!bucket) return next();
    if (ctx.method === 'GET' && key === '' && 'uploads' in ctx.query) return listUploads(ctx, store, bucket);
    if (key === '' || uploadId === undefined) return next();
    const uploadDir = join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId);
    if (ctx.method === 'PUT' && ctx.headers['x-amz-copy-source'] !== undefined) {
      await requireUpload(uploadDir, key, uploadId);
      return uploadPartCopy(ctx, store, bucket, uploadId);
    }
    if (ctx.method === 'GET') {
      await requireUpload(uploadDir, key, uploadId);
      return listParts(ctx, uploadDir, bucket, key, uploadId);
    }
    if (ctx.method === 'DELETE') {
      await requireUpload(uploadDir, key, uploadId);
      await rm(uploadDir, { recursive: true, force: true });
      ctx.status = 204;
      ctx.body = null;
      return;
    }
    return next();
  };
}

async function requireUpload(uploadDir: string, key: string, uploadId: string): Promise<void> {
  const stored = await readFile(join(uploadDir, 'key'), 'utf8').catch(() => undefined);
  if (stored !== key) throw new S3Error('NoSuchUpload', `The specified upload does not exist: ${uploadId}`);
}

async function uploadPartCopy(ctx: KoaContext, store: FilesystemStore, bucket: string, uploadId: string): Promise<void> {
  const partNumber = Number(single(ctx.query.partNumber));
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000) throw new S3Error('InvalidArgument', 'Part number must be 1 to 10000');
  const source = decodeURIComponent(String(ctx.headers['x-amz-copy-source'])).replace(/^\//, '');
  const slash = source.indexOf('/');
  const [sourceBucket, sourceKey] = [source.slice(0, slash), source.slice(slash + 1)];
  const rangeHeader = single(ctx.headers['x-amz-copy-source-range']);
  const match = rangeHeader === undefined ? null : /^bytes=(\d+)-(\d+)$/.exec(rangeHeader);
  if (rangeHeader !== undefined && !match) throw new S3Error('InvalidArgument', `Bad copy source range ${rangeHeader}`);
  const head = await store.getObject(sourceBucket, sourceKey, { start: 0, end: 0 });
  if (!head) throw new S3Error('NoSuchKey', `The specified key does not exist: ${sourceKey}`);
  head.content?.destroy();
  const ifMatch = single(ctx.headers['x-amz-copy-source-if-match']);
  if (ifMatch !== undefined && ifMatch.replace(/"/g, '') !== String(head.metadata.etag).replace(/"/g, '')) {
    throw Object.assign(new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold'), { status: 412 });
  }
  const size = Number(head.metadata['content-length']);
  const [start, end] = match ? [Number(match[1]), Number(match[2])] : [0, size - 1];
  if (start > end || end >= size) throw new S3Error('InvalidRange', `The requested range ${rangeHeader} is not satisfiable`);
  const object = await store.getObject(sourceBucket, sourceKey, { start, end });
  if (!object?.content) throw new S3Error('NoSuchKey', `The specified key does not exist: ${sourceKey}`);
  const { md5 } = await store.putPart(bucket, uploadId, partNumber, object.content);
  ctx.body = { CopyPartResult: { LastModified: new Date().toISOString(), ETag: JSON.stringify(md5) } };
}

async function listParts(ctx: KoaContext, uploadDir: string, bucket: string, key: string, uploadId: string): Promise<void> {
  const marker = Number(single(ctx.query['part-number-marker']) ?? 0);
  const maxParts = Number(single(ctx.query['max-parts']) ?? 1000);
  const numbers = (await readdir(uploadDir)).filter((name) => /^\d+$/.test(name)).map(Number).sort((a, b) => a - b);
  const after = numbers.filter((n) => n > marker);
  const page = after.slice(0, maxParts);
  const parts = await Promise.all(
    page.map(async (n) => {
      const [info, md5] = await Promise.all([stat(join(uploadDir, String(n))), readFile(join(uploadDir, `${n}.md5`), 'utf8')]);
      return { PartNumber: n, LastModified: info.mtime.toISOString(), ETag: JSON.stringify(md5), Size: info.size };
    }),
  );
  const truncated = after.length > page.length;
  ctx.body = {
    ListPartsResult: {
      Bucket: bucket,
      Key: key,
      UploadId: uploadId,
      PartNumberMarker: marker,
      ...(truncated ? { NextPartNumberMarker: page.at(-1)! } : {}),
      MaxParts: maxParts,
      IsTruncated: truncated,
      ...(parts.length === 0 ? {} : { Part: parts }),
    },
  };
}

async function listUploads(ctx: KoaContext, store: FilesystemStore, bucket: string): Promise<void> {
  const prefix = single(ctx.query.prefix) ?? '';
  const root = store.getResourcePath(bucket, undefined, 'uploads');
  const ids = await readdir(root).catch(() => [] as string[]);
  const uploads = (
    await Promise.all(
      ids.map(async (id) => {
        const key = await readFile(join(root, id, 'key'), 'utf8').catch(() => undefined);
        if (key === undefined || !key.startsWith(prefix)) return undefined;
        return { Key: key, UploadId: id, Initiated: (await stat(join(root, id, 'key'))).mtime.toISOString() };
      }),
    )
  )
    .filter((u) => u !== undefined)
    // S3 orders by key, then by initiation time.
    .sort((a, b) => (a.Key !== b.Key ? (a.Key < b.Key ? -1 : 1) : a.Initiated.localeCompare(b.Initiated)));
  ctx.body = {
    ListMultipartUploadsResult: {
      Bucket: bucket,
      Prefix: prefix,
      MaxUploads: 1000,
      IsTruncated: false,
      ...(uploads.length === 0 ? {} : { Upload: uploads }),
    },
  };
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

