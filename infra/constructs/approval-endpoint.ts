import { ArnFormat, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { APPROVAL_LIMITS } from '../../functions/approval/limits.ts';

/** The API stage: approval links are `https://<api>.execute-api.<region>.amazonaws.com/approve/approvals/<id>?exp=…&sig=…`. */
export const APPROVAL_STAGE = 'approve';

/** The one path an approval link has below the API's origin: the stage, then `/approvals/<id>` (ids as link.ts reads them). */
export function approvalPathPattern(stage: string = APPROVAL_STAGE): string {
  return `^/${stage}/approvals/[A-Za-z0-9_-]{22,64}$`;
}

export interface ApprovalApiProps {
  /** The deployment's name: the API is `<name>-approvals`. */
  readonly name: string;
  /** The approval endpoint function (a thin handler over handleApprovalRequest). */
  readonly handler: lambda.IFunction;
  /** Encrypts the API's access logs and WAF's logs. */
  readonly logKey: kms.IKey;
  /** @default APPROVAL_LIMITS */
  readonly limits?: Pick<typeof APPROVAL_LIMITS, 'requestsPerClient' | 'windowSeconds' | 'stageRateLimit' | 'stageBurstLimit'>;
}

/**
 * The public face of the approval endpoint (docs/dr-plans.md, "The approval endpoint under a flood"): a regional
 * API Gateway REST API whose only methods are GET and POST of `/approvals/{approvalId}` with `exp` and `sig`
 * required, throttled per stage, behind a regional WAF web ACL that blocks any client over its request allowance
 * (a rate-based rule per IP), anything that is not an approval link, and addresses on AWS's IP reputation list,
 * before the function is invoked. Nothing logged at the edge holds a link's query (its signature).
 *
 * @example
 * const api = new ApprovalApi(this, 'ApprovalApi', { name: 'lifeboat', handler: endpoint.function, logKey });
 * api.url; // https://…execute-api.eu-west-1.amazonaws.com/approve/
 */
export class ApprovalApi extends Construct {
  readonly api: apigw.RestApi;
  readonly webAcl: wafv2.CfnWebACL;
  readonly accessLogs: logs.LogGroup;
  readonly wafLogs: logs.LogGroup;
  /** The base URL links are built from (with a trailing slash). */
  readonly url: string;

  constructor(scope: Construct, id: string, props: ApprovalApiProps) {
    super(scope, id);
    const limits = props.limits ?? APPROVAL_LIMITS;
    const problems: string[] = [];
    // WAF's bounds for a rate-based rule, and its evaluation windows.
    if (!Number.isInteger(limits.requestsPerClient) || limits.requestsPerClient < 10) problems.push(`requestsPerClient must be a whole number >= 10, got ${limits.requestsPerClient}`);
    if (![60, 120, 300, 600].includes(limits.windowSeconds)) problems.push(`windowSeconds must be 60, 120, 300 or 600, got ${limits.windowSeconds}`);
    if (!(limits.stageRateLimit > 0) || !(limits.stageBurstLimit >= 1)) problems.push('stageRateLimit and stageBurstLimit must be positive');
    if (problems.length > 0) throw new Error(`ApprovalApi ${id}: invalid props:\n- ${problems.join('\n- ')}`);

    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: logs.RetentionDays.ONE_YEAR, encryptionKey: props.logKey, removalPolicy: RemovalPolicy.RETAIN });
    this.api = new apigw.RestApi(this, 'Api', {
      restApiName: `${props.name}-approvals`,
      description: 'Lifeboat: approval links (GET shows the request, POST decides once), behind a WAF rate limit per client',
      endpointConfiguration: { types: [apigw.EndpointType.REGIONAL] },
      // Access and execution logging need the account's API Gateway CloudWatch role; kept if the stack goes (other APIs may use it).
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      deployOptions: {
        stageName: APPROVAL_STAGE,
        throttlingRateLimit: limits.stageRateLimit,
        throttlingBurstLimit: limits.stageBurstLimit,
        tracingEnabled: true,
        metricsEnabled: true,
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        // Never the request: its query is the link's signature, its body the approver's form.
        dataTraceEnabled: false,
        accessLogDestination: new apigw.LogGroupLogDestination(this.accessLogs),
        // No query string: `$context.path` is the path alone.
        accessLogFormat: apigw.AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            method: '$context.httpMethod',
            path: '$context.path',
            status: '$context.status',
            responseLength: '$context.responseLength',
            time: '$context.requestTime',
            waf: '$context.waf.status',
            integrationStatus: '$context.integrationStatus',
          }),
        ),
      },
    });
    // Parameters: a request without exp or sig is refused by API Gateway. The form body has no model: the function reads it.
    const validator = this.api.addRequestValidator('LinkShape', { requestValidatorName: 'approval-link-shape', validateRequestParameters: true, validateRequestBody: true });
    const link = this.api.root.addResource('approvals').addResource('{approvalId}');
    const integration = new apigw.LambdaIntegration(props.handler, { proxy: true });
    const required = { 'method.request.querystring.exp': true, 'method.request.querystring.sig': true, 'method.request.path.approvalId': true };
    for (const method of ['GET', 'POST']) link.addMethod(method, integration, { requestParameters: required, requestValidator: validator, authorizationType: apigw.AuthorizationType.NONE });

    this.wafLogs = new logs.LogGroup(this, 'WafLogs', {
      // WAF delivers only to log groups named aws-waf-logs-*.
      logGroupName: `aws-waf-logs-${props.name}-approvals`,
      retention: logs.RetentionDays.ONE_YEAR,
      encryptionKey: props.logKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const visibility = (metricName: string) => ({ cloudWatchMetricsEnabled: true, sampledRequestsEnabled: false, metricName });
    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      name: `${props.name}-approvals`,
      description: 'Lifeboat approval links: a request allowance per client, approval-link paths only, no known-bad addresses',
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility(`${props.name}-approvals`),
      customResponseBodies: {
        tooMany: { contentType: 'TEXT_PLAIN', content: 'Too many requests from your address: wait a few minutes, then open the approval link again. Nothing was decided.' },
      },
      rules: [
        {
          name: 'RequestsPerClient',
          priority: 0,
          statement: { rateBasedStatement: { aggregateKeyType: 'IP', limit: limits.requestsPerClient, evaluationWindowSec: limits.windowSeconds } },
          action: { block: { customResponse: { responseCode: 429, customResponseBodyKey: 'tooMany' } } },
          visibilityConfig: visibility('requests-per-client'),
        },
        {
          name: 'ApprovalLinksOnly',
          priority: 1,
          statement: {
            notStatement: {
              statement: { regexMatchStatement: { regexString: approvalPathPattern(), fieldToMatch: { uriPath: {} }, textTransformations: [{ priority: 0, type: 'NONE' }] } },
            },
          },
          action: { block: { customResponse: { responseCode: 404 } } },
          visibilityConfig: visibility('approval-links-only'),
        },
        {
          name: 'IpReputation',
          priority: 2,
          statement: { managedRuleGroupStatement: { vendorName: 'AWS', name: 'AWSManagedRulesAmazonIpReputationList' } },
          overrideAction: { none: {} },
          visibilityConfig: visibility('ip-reputation'),
        },
      ],
    });
    new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', { resourceArn: this.api.deploymentStage.stageArn, webAclArn: this.webAcl.attrArn });
    new wafv2.CfnLoggingConfiguration(this, 'WafLogging', {
      resourceArn: this.webAcl.attrArn,
      logDestinationConfigs: [Stack.of(this).formatArn({ service: 'logs', resource: 'log-group', resourceName: this.wafLogs.logGroupName, arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
      // The query string is the link's signature.
      redactedFields: [{ queryString: {} }],
    });
    this.url = this.api.url;

    const publicByDesign =
      'The approval page is public on purpose: approvers open it from an email without AWS credentials. The link carries an expiring HMAC signature (KMS) of its approval id; WAF limits each client before the function runs, and a GET never decides.';
    for (const method of link.node.children) {
      if (method instanceof apigw.Method) {
        Validations.of(method).acknowledge(
          { id: 'AwsSolutions::AwsSolutions-APIG4', reason: publicByDesign },
          { id: 'AwsSolutions::AwsSolutions-COG4', reason: publicByDesign },
        );
      }
    }
    const cloudWatchRole = this.api.node.tryFindChild('CloudWatchRole');
    if (cloudWatchRole) {
      Validations.of(cloudWatchRole).acknowledge({
        id: 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason: "API Gateway's account-level logging role: AWS's managed policy is the documented one, and it reaches CloudWatch Logs only.",
      });
    }
    Validations.of(this.api.deploymentStage).acknowledge(
      { id: 'NIST.800.53.R5::NIST.800.53.R5-APIGWCacheEnabledAndEncrypted', reason: 'Every page is per link and marked no-store; a cache would serve a stale "pending" page after a decision.' },
      { id: 'NIST.800.53.R5::NIST.800.53.R5-APIGWSSLEnabled', reason: 'The integration is a Lambda proxy, not an HTTP backend: there is no backend connection for a client certificate to authenticate.' },
    );
  }
}
