/**
 * Driving approvals in tests the way people do: find the link in the published message, then open or
 * answer it through the real endpoint logic ({@link handleApprovalRequest}) as API Gateway calls it (a REST
 * proxy event), or as a function URL would (local runs).
 * Plan tests use {@link answerApproval} with the same store, signer and SFN client the request task used.
 */
import {
  handleApprovalRequest,
  type ApprovalEndpointDeps,
  type ApprovalHttpRequest,
  type ApprovalHttpResponse,
} from '../../../functions/approval/endpoint.ts';
import { outcomeOfPage } from '../../../functions/approval/pages.ts';
import { localHmacSigner } from '../../../functions/lib/crypto/mac.ts';

/** A fixed 32-byte signing key: links in tests are reproducible. */
export const TEST_SIGNING_KEY = Buffer.from('6c696665626f61742d617070726f76616c2d746573742d6b65792d3332627974', 'hex');
export const testSigner = () => localHmacSigner(TEST_SIGNING_KEY);

/** The approval link in a published message (the line after "To decide, open this link:"). */
export function linkFromMessage(message: string): string {
  const link = /^ {2}(https:\/\/\S+\/approvals\/\S+)$/m.exec(message)?.[1];
  if (link === undefined) throw new Error(`No approval link in the message:\n${message}`);
  return link;
}

/** The function URL event (payload format 2.0) for a request to `link`. */
export function functionUrlRequest(
  link: string,
  options: { readonly method?: string; readonly body?: string; readonly base64?: boolean; readonly headers?: Record<string, string> } = {},
): ApprovalHttpRequest {
  const url = new URL(link);
  const rawQueryString = url.search.replace(/^\?/, '');
  const query = new URLSearchParams(rawQueryString);
  const method = options.method ?? 'GET';
  return {
    rawPath: url.pathname,
    rawQueryString,
    queryStringParameters: rawQueryString === '' ? undefined : Object.fromEntries([...query.keys()].map((key) => [key, query.getAll(key).join(',')])),
    headers: {
      host: url.host,
      ...(options.body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
      ...options.headers,
    },
    requestContext: { http: { method } },
    ...(options.body === undefined
      ? { isBase64Encoded: false }
      : options.base64
        ? { body: Buffer.from(options.body, 'utf8').toString('base64'), isBase64Encoded: true }
        : { body: options.body, isBase64Encoded: false }),
  };
}

/**
 * The API Gateway REST proxy event (payload 1.0) for a request to `link`, as the deployed endpoint receives it:
 * `path` is the resource path (`/approvals/<id>`) without the stage; `sourceIp` is the client's address.
 */
export function restApiRequest(
  link: string,
  options: { readonly method?: string; readonly body?: string; readonly headers?: Record<string, string>; readonly sourceIp?: string } = {},
): ApprovalHttpRequest & { readonly requestContext: { readonly identity: { readonly sourceIp: string }; readonly stage: string } } {
  const url = new URL(link);
  const path = /\/approvals\/.*$/.exec(url.pathname)?.[0] ?? url.pathname;
  const query = url.searchParams;
  const keys = [...new Set(query.keys())];
  return {
    httpMethod: options.method ?? 'GET',
    path,
    queryStringParameters: keys.length === 0 ? null : Object.fromEntries(keys.map((key) => [key, query.getAll(key).at(-1)!])),
    multiValueQueryStringParameters: keys.length === 0 ? null : Object.fromEntries(keys.map((key) => [key, query.getAll(key)])),
    headers: { host: url.host, ...(options.body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }), ...options.headers },
    body: options.body ?? null,
    isBase64Encoded: false,
    requestContext: { identity: { sourceIp: options.sourceIp ?? '198.51.100.7' }, stage: url.pathname.split('/')[1] === 'approvals' ? '$default' : url.pathname.split('/')[1]! },
  };
}

export interface ApprovalAnswer {
  readonly decision: 'approve' | 'reject';
  /** @default 'Test Approver' */
  readonly name?: string;
  /** @default '' */
  readonly comment?: string;
}

export type AnsweredPage = ApprovalHttpResponse & {
  /** The page's `<h1>: <outcome>` as text. */
  readonly outcome: string | undefined;
};

/** Answers the approval at `link` as its form does: one POST through the real endpoint logic, as API Gateway sends it. */
export async function answerApproval(
  link: string,
  decision: 'approve' | 'reject' | ApprovalAnswer,
  deps: ApprovalEndpointDeps,
): Promise<AnsweredPage> {
  const answer = typeof decision === 'string' ? { decision } : decision;
  const body = new URLSearchParams({ decision: answer.decision, name: answer.name ?? 'Test Approver', comment: answer.comment ?? '' }).toString();
  const response = await handleApprovalRequest(restApiRequest(link, { method: 'POST', body }), deps);
  return { ...response, outcome: outcomeOfPage(response.body) };
}

/** Opens the approval at `link` as a browser does: one GET through the real endpoint logic, as API Gateway sends it. */
export async function openApproval(link: string, deps: ApprovalEndpointDeps): Promise<AnsweredPage> {
  const response = await handleApprovalRequest(restApiRequest(link), deps);
  return { ...response, outcome: outcomeOfPage(response.body) };
}

/**
 * A `fetch` that serves every request from the real endpoint logic, as API Gateway would: for CLI tests.
 * Records each request it was given.
 */
export function endpointFetch(deps: ApprovalEndpointDeps): typeof fetch & { readonly requests: Request[] } {
  const requests: Request[] = [];
  const fetchThroughEndpoint = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    requests.push(request.clone());
    const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : await request.text();
    const headers = Object.fromEntries(request.headers.entries());
    const event = restApiRequest(request.url, { method: request.method, headers, ...(body === undefined ? {} : { body }) });
    const response = await handleApprovalRequest(event, deps);
    return new Response(response.body, { status: response.statusCode, headers: response.headers });
  };
  return Object.assign(fetchThroughEndpoint, { requests }) as typeof fetch & { readonly requests: Request[] };
}


/** The error `promise` rejects with; fails the test if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}
