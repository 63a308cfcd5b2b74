import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { App, Stack } from 'aws-cdk-lib'
import { Match, Template } from 'aws-cdk-lib/assertions'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { loadConfig } from '../../functions/core/config.js'
import { createObjectStore, createS3Client } from '../../functions/core/storage.js'
import { SITE_CONFIG_KEY, Site, type SiteBuild } from '../../lib/constructs/site.js'
import { STAND_IN_PAGE, type Json, logicalIdsOf, synthStack, testProps } from './synth.js'

let synthesized: ReturnType<typeof synthStack>
beforeAll(() => {
  synthesized = synthStack()
})
const template = () => synthesized.template
const resources = () => template().toJSON().Resources as Record<string, Json>
const single = (t: Template, type: string): string => {
  const ids = logicalIdsOf(t, type)
  expect(ids).toHaveLength(1)
  return ids[0] as string
}
const ref = (logicalId: string) => ({ Ref: logicalId })

/** What the stack gives a function that config.ts requires, on AWS (no endpoint override). */
const LAMBDA_ENV = {
  FILES_BUCKET_NAME: 'files-bucket',
  FILES_QUEUE_URL: 'https://sqs.example.invalid/files',
  DATABASE_URL: 'postgres://uploads_admin@proxy.example.invalid:5432/uploads',
  REDIS_URL: 'rediss://cache.example.invalid:6379',
}

/** A CloudFormation string as text: `Fn::Join` flattened, `Ref`s and `Fn::GetAtt`s as `${...}`. */
function text(value: Json): string {
  if (typeof value === 'string') return value
  if (value.Ref) return `\${${value.Ref}}`
  if (value['Fn::GetAtt']) return `\${${value['Fn::GetAtt'].join('.')}}`
  if (value['Fn::Join']) return value['Fn::Join'][1].map(text).join(value['Fn::Join'][0])
  throw new Error(`not a string expression: ${JSON.stringify(value)}`)
}

const SITE_BUCKET = 'SiteBucket978D4AEB'
const distributionId = () => single(template(), 'AWS::CloudFront::Distribution')
const deployment = () => resources()[single(template(), 'Custom::CDKBucketDeployment')].Properties

describe('the site bucket', () => {
  it('is private, encrypted and owned by the bucket owner', () => {
    expect(resources()[SITE_BUCKET].Properties).toMatchObject({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    })
  })

  it('refuses requests without TLS and lets only this distribution read it, through Origin Access Control', () => {
    const policy = Object.values(template().findResources('AWS::S3::BucketPolicy')).find((p) => p.Properties.Bucket.Ref === SITE_BUCKET)!
    const statements: Json[] = policy.Properties.PolicyDocument.Statement
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    )
    const allows = statements.filter((s) => s.Effect === 'Allow')
    expect(allows).toHaveLength(1)
    expect(allows[0]).toMatchObject({
      Principal: { Service: 'cloudfront.amazonaws.com' },
      Action: 's3:GetObject',
      Condition: { StringEquals: { 'AWS:SourceArn': expect.anything() } },
    })
    expect(text(allows[0].Condition.StringEquals['AWS:SourceArn'])).toMatch(new RegExp(`:distribution/\\$\\{${distributionId()}\\}$`))
    expect(text(allows[0].Resource)).toBe(`\${${SITE_BUCKET}.Arn}/*`)
  })
})

describe('the distribution', () => {
  it('serves index.html at the root, over HTTPS only, from the bucket signed with Origin Access Control', () => {
    const config = resources()[distributionId()].Properties.DistributionConfig
    expect(config).toMatchObject({
      DefaultRootObject: 'index.html',
      DefaultCacheBehavior: { ViewerProtocolPolicy: 'https-only', AllowedMethods: ['GET', 'HEAD'], Compress: true },
    })
    const [origin] = config.Origins
    expect(origin.DomainName).toEqual({ 'Fn::GetAtt': [SITE_BUCKET, 'RegionalDomainName'] })
    expect(origin.S3OriginConfig.OriginAccessIdentity).toBe('')
    const oac = single(template(), 'AWS::CloudFront::OriginAccessControl')
    expect(origin.OriginAccessControlId).toEqual({ 'Fn::GetAtt': [oac, 'Id'] })
    template().hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
      OriginAccessControlConfig: { OriginAccessControlOriginType: 's3', SigningBehavior: 'always', SigningProtocol: 'sigv4' },
    })
  })

  it('sends HSTS, nosniff, no framing and no referrer with every response', () => {
    const config = resources()[distributionId()].Properties.DistributionConfig
    const policyId = single(template(), 'AWS::CloudFront::ResponseHeadersPolicy')
    expect(config.DefaultCacheBehavior.ResponseHeadersPolicyId).toEqual(ref(policyId))
    const headers = resources()[policyId].Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig
    expect(headers).toMatchObject({
      StrictTransportSecurity: { AccessControlMaxAgeSec: 365 * 24 * 3600, IncludeSubdomains: true, Override: true },
      ContentTypeOptions: { Override: true },
      FrameOptions: { FrameOption: 'DENY', Override: true },
      ReferrerPolicy: { ReferrerPolicy: 'no-referrer', Override: true },
    })
  })

  it('allows scripts and styles from the site only, and connections to the region’s API and S3 endpoints', () => {
    const policyId = single(template(), 'AWS::CloudFront::ResponseHeadersPolicy')
    const csp = resources()[policyId].Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig.ContentSecurityPolicy
    expect(csp.Override).toBe(true)
    const directives = Object.fromEntries(
      text(csp.ContentSecurityPolicy)
        .split(';')
        .map((d) => d.trim().split(/\s+/))
        .map(([name, ...sources]) => [name, sources]),
    )
    expect(directives).toMatchObject({
      'default-src': ["'none'"],
      'script-src': ["'self'"],
      'style-src': ["'self'"],
      'frame-ancestors': ["'none'"],
      'base-uri': ["'none'"],
    })
    expect(directives['connect-src']).toEqual([
      "'self'",
      'https://*.execute-api.${AWS::Region}.${AWS::URLSuffix}',
      'https://*.s3.${AWS::Region}.${AWS::URLSuffix}',
    ])
  })
})

describe('the page’s connections', () => {
  /** CSP host-source matching, for the `https://host` and `https://*.host` forms the policy uses. */
  const allows = (sources: readonly string[], url: string) =>
    sources.some((source) => {
      const { protocol, host } = new URL(url)
      if (!source.startsWith(`${protocol}//`)) return false
      const pattern = source.slice(protocol.length + 2)
      return pattern.startsWith('*.') ? host.endsWith(pattern.slice(1)) : host === pattern
    })
  const connectSources = (region: string, urlSuffix: string) => {
    const policyId = single(template(), 'AWS::CloudFront::ResponseHeadersPolicy')
    const csp = text(resources()[policyId].Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig.ContentSecurityPolicy.ContentSecurityPolicy)
    const directive = csp.split(';').map((d) => d.trim()).find((d) => d.startsWith('connect-src '))!
    return directive.replaceAll('${AWS::Region}', region).replaceAll('${AWS::URLSuffix}', urlSuffix).split(/\s+/).slice(1)
  }

  afterEach(() => {
    vi.unstubAllEnvs()
  })

  // Signing is local: the functions' own S3 client, configured as on Lambda, hands out these URLs with no network.
  it.each([
    ['us-east-1', 'amazonaws.com'],
    ['eu-central-1', 'amazonaws.com'],
    ['cn-north-1', 'amazonaws.com.cn'],
  ])('lets the page POST and PUT parts to the URLs the functions sign in %s, and call the API there', async (region, urlSuffix) => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDEXAMPLE')
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'example-secret')
    // The SDK reads these itself; in a whole `npm test` the other tiers' setup has pointed them at LocalStack.
    vi.stubEnv('AWS_ENDPOINT_URL', undefined)
    vi.stubEnv('AWS_ENDPOINT_URL_S3', undefined)
    const config = loadConfig({ ...LAMBDA_ENV, AWS_REGION: region })
    const store = createObjectStore(createS3Client(config), 'uploadpipeline-datafilesbucketb56395fd-1a2b3c4d5e6f')
    const post = await store.presignPost({ key: 'uploads/owner/file', conditions: [], fields: {} }, 60)
    const part = await store.presignPart({ key: 'uploads/owner/file', uploadId: 'upload', partNumber: 1, size: 5 }, 60)
    const sources = connectSources(region, urlSuffix)
    expect(allows(sources, post.url)).toBe(true)
    expect(allows(sources, part)).toBe(true)
    expect(allows(sources, `https://a1b2c3d4e5.execute-api.${region}.${urlSuffix}/files`)).toBe(true)
    expect(allows(sources, 'https://attacker.example.com/')).toBe(false)
  })
})

describe('the deployment', () => {
  it('uploads what the site build wrote, beside a config.json that points the page at this stack’s API', () => {
    const props = deployment()
    expect(props.DestinationBucketName).toEqual(ref(SITE_BUCKET))
    const assetDirs = (props.SourceObjectKeys as string[]).map((key) => join(synthesized.app.outdir, `asset.${key.replace(/\.zip$/, '')}`))
    expect(assetDirs).toHaveLength(2)

    for (const [name, body] of Object.entries(STAND_IN_PAGE)) {
      expect(readFileSync(join(assetDirs[0]!, name), 'utf8')).toBe(body)
    }

    // Source.jsonData resolves deploy-time values through markers the deployment function substitutes.
    const markers: Record<string, Json> = props.SourceMarkers[1]
    const config = readFileSync(join(assetDirs[1]!, SITE_CONFIG_KEY), 'utf8').replace(/<<marker:0xbaba:\d+>>/g, (m) => text(markers[m]))
    const httpApi = single(template(), 'AWS::ApiGatewayV2::Api')
    // The API's endpoint, without the trailing slash of the stage URL (ApiUrl).
    expect(JSON.parse(config)).toEqual({ apiBase: `\${${httpApi}.ApiEndpoint}` })
  })

  it('has every file revalidated on load and CloudFront invalidated after each deploy', () => {
    expect(deployment()).toMatchObject({
      SystemMetadata: { 'cache-control': 'no-cache' },
      DistributionId: ref(distributionId()),
      DistributionPaths: ['/*'],
      Prune: true,
      RetainOnDelete: false,
    })
  })

  it('names the page by what the build produced, so that a new bundle is uploaded even when web/ is unchanged', () => {
    const assetKey = (build: SiteBuild) => {
      const stack = new Stack(new App(), 'Page')
      new Site(stack, 'Site', { build }).publish({ apiBase: 'https://api.example.com' })
      const props = Object.values(Template.fromStack(stack).findResources('Custom::CDKBucketDeployment'))[0]!.Properties
      return props.SourceObjectKeys[0] as string
    }
    const writing = (body: string): SiteBuild => (outDir) => writeFileSync(join(outDir, 'index.html'), body)
    expect(assetKey(writing('<p>one'))).toBe(assetKey(writing('<p>one')))
    expect(assetKey(writing('<p>one'))).not.toBe(assetKey(writing('<p>two')))
  })
})

describe('the stack with the site', () => {
  it('outputs the site URL, the origin the API and the files bucket allow', () => {
    const origin = { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [distributionId(), 'DomainName'] }]] }
    template().hasOutput('SiteUrl', { Value: origin })
    template().hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: Match.objectLike({ AllowOrigins: [...testProps.corsOrigins, origin] }),
    })
    expect(resources().DataFilesBucketB56395FD.Properties.CorsConfiguration.CorsRules[0].AllowedOrigins).toEqual([
      ...testProps.corsOrigins,
      origin,
    ])
  })

  it('leaves the site out without a build (-c site=false): no distribution, bucket or output, CORS as configured', () => {
    const { template: bare } = synthStack({ buildSite: undefined })
    bare.resourceCountIs('AWS::CloudFront::Distribution', 0)
    bare.resourceCountIs('Custom::CDKBucketDeployment', 0)
    expect(logicalIdsOf(bare, 'AWS::S3::Bucket')).toEqual(['DataAccessLogsBucketC3B60382', 'DataFilesBucketB56395FD'])
    expect(Object.keys(bare.toJSON().Outputs)).not.toContain('SiteUrl')
    bare.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: Match.objectLike({ AllowOrigins: testProps.corsOrigins }),
    })
    expect(bare.toJSON().Resources.DataFilesBucketB56395FD.Properties.CorsConfiguration.CorsRules[0].AllowedOrigins).toEqual(
      testProps.corsOrigins,
    )
  })
})
