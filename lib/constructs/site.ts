import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AssetHashType, Aws, DockerImage, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib'
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront'
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins'
import * as s3 from 'aws-cdk-lib/aws-s3'
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment'
import { Construct } from 'constructs'
import { pageContentSecurityPolicy } from '../settings.js'

/** Writes the built page (every file the browser loads) into `outDir`: `buildSiteSync` of `web/build.ts`. */
export type SiteBuild = (outDir: string) => void

export interface SiteProps {
  readonly build: SiteBuild
}

/** The page's sources: the asset is built from them by `SiteBuild`, never uploaded as they are. */
export const WEB_DIR = resolve(fileURLToPath(new URL('../../web', import.meta.url)))

/** The file the page reads its API base from at run time, so one build serves every stack. */
export const SITE_CONFIG_KEY = 'config.json'

/**
 * The upload page as a static site: a private bucket that only CloudFront reads (Origin Access Control), served
 * over HTTPS with security headers. `publish` deploys the built page and its `config.json` once the API exists.
 */
export class Site extends Construct {
  readonly bucket: s3.Bucket
  readonly distribution: cloudfront.Distribution

  constructor(
    scope: Construct,
    id: string,
    private readonly props: SiteProps,
  ) {
    super(scope, id)

    // Nothing here is data: the page is rebuilt from the repository on every deploy, so the bucket goes with the
    // stack (the deployment empties it first, as `retainOnDelete: false` below says).
    this.bucket = new s3.Bucket(this, 'Bucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.DESTROY,
    })
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'Holds only the public page, written by deployments (in CloudTrail) and read only by CloudFront.',
    })

    // The API and the files bucket cannot be named here: each allows this distribution's origin in its CORS, so a
    // reference back would be a dependency cycle in CloudFormation. The page may therefore connect to any HTTP API
    // and any bucket of the stack's region; CORS on the API and the bucket, and script-src 'self', stay exact.
    const connectSources = [`https://*.execute-api.${Aws.REGION}.${Aws.URL_SUFFIX}`, `https://*.s3.${Aws.REGION}.${Aws.URL_SUFFIX}`]
    const headers = new cloudfront.ResponseHeadersPolicy(this, 'SecurityHeaders', {
      comment: 'Upload page: CSP, HSTS, no framing, no sniffing, no referrer',
      securityHeadersBehavior: {
        contentSecurityPolicy: { contentSecurityPolicy: pageContentSecurityPolicy(connectSources), override: true },
        strictTransportSecurity: { accessControlMaxAge: Duration.days(365), includeSubdomains: true, override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        contentTypeOptions: { override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.NO_REFERRER, override: true },
      },
    })

    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: 'Upload pipeline page',
      defaultRootObject: 'index.html',
      defaultBehavior: {
        origin: origins.S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: headers,
        compress: true,
      },
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
    })
    Validations.of(this.distribution).acknowledge(
      {
        id: 'AwsSolutions-CFR1',
        reason: 'The page is public everywhere the API is; the API authenticates every call that matters.',
      },
      {
        id: 'AwsSolutions-CFR2',
        reason: 'Static files only: WAF would filter nothing here. The API has its own throttle and JWT authorizer.',
      },
      {
        id: 'AwsSolutions-CFR3',
        reason: 'Static files only, no user data; the API logs every request. Standard logging costs a bucket with ACLs.',
      },
      {
        id: 'AwsSolutions-CFR4',
        reason: 'The default *.cloudfront.net certificate cannot be pinned to TLS 1.2; a custom domain can (RUNBOOK.md).',
      },
    )
  }

  /** `https://<id>.cloudfront.net`, the origin the API and the files bucket allow. */
  get url(): string {
    return `https://${this.distribution.distributionDomainName}`
  }

  /**
   * Deploys the built page and `config.json` (`{"apiBase": ...}`), then invalidates CloudFront's copies so that the
   * next request gets them.
   */
  publish(config: { readonly apiBase: string }): s3deploy.BucketDeployment {
    const { build } = this.props
    const page = s3deploy.Source.asset(WEB_DIR, {
      // Hashed by what the build produced, not by web/: a dependency upgrade (package-lock.json) changes the bundle
      // without touching web/, and a source-hashed asset would then never be uploaded again.
      assetHashType: AssetHashType.OUTPUT,
      bundling: {
        // Never pulled: the local build always succeeds or throws, so CDK never falls back to Docker.
        image: DockerImage.fromRegistry('none'),
        local: {
          tryBundle(outputDir) {
            build(outputDir)
            return true
          },
        },
      },
    })
    const deployment = new s3deploy.BucketDeployment(this, 'Deployment', {
      destinationBucket: this.bucket,
      sources: [page, s3deploy.Source.jsonData(SITE_CONFIG_KEY, config)],
      // Revalidated on every load (a 304 when unchanged): the page and its config change together, at a deploy.
      cacheControl: [s3deploy.CacheControl.noCache()],
      distribution: this.distribution,
      distributionPaths: ['/*'],
      retainOnDelete: false,
    })
    // CDK's own deployment function (one per stack), which copies from CDK's asset bucket.
    const handler = deployment.handlerRole.node.scope
    if (handler) {
      const cdkManaged = 'CDK-managed BucketDeployment function, run only by CloudFormation at deploy time'
      Validations.of(handler).acknowledge(
        {
          id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
          reason: `${cdkManaged}; the AWS-managed policy only lets it write its own logs.`,
        },
        ...['s3:GetBucket*', 's3:GetObject*', 's3:List*', 's3:Abort*', 's3:DeleteObject*'].map((action) => ({
          id: `AwsSolutions-IAM5[Action::${action}]`,
          reason: `${cdkManaged}: CDK's grants to read the asset and replace the site bucket's contents.`,
        })),
        ...[
          'arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*',
          `<${Stack.of(this).getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket)}.Arn>/*`,
        ].map((resource) => ({
          id: `AwsSolutions-IAM5[Resource::${resource}]`,
          reason: `${cdkManaged}: it reads the asset's objects and replaces every object of the site bucket.`,
        })),
        {
          id: 'AwsSolutions-IAM5[Resource::*]',
          reason: `${cdkManaged}: cloudfront:CreateInvalidation and GetInvalidation, which CDK grants on every distribution.`,
        },
        { id: 'AwsSolutions-L1', reason: `${cdkManaged}; aws-cdk-lib chooses its runtime and moves it on upgrades.` },
      )
    }
    return deployment
  }
}
