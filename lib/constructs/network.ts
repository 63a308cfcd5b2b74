import { RemovalPolicy } from 'aws-cdk-lib'
import * as ec2 from 'aws-cdk-lib/aws-ec2'
import * as logs from 'aws-cdk-lib/aws-logs'
import { Construct } from 'constructs'

export interface NetworkProps {
  readonly cidr: string
  readonly maxAzs: number
  readonly logRetention: logs.RetentionDays
}

/**
 * A VPC with isolated subnets only: no NAT gateway and no route to the internet. Everything the functions, the
 * database proxy and the secret rotation talk to is an AWS service with a private endpoint:
 * - S3 through a gateway endpoint: free, and object bytes never pay a NAT's per-GB processing charge;
 * - SQS and Secrets Manager (the rotation function runs in these subnets) through interface endpoints: two
 *   endpoints in two AZs cost less than half of two NAT gateways, and a compromised function has no way out to
 *   an arbitrary host.
 * Logs and Powertools metrics (EMF) leave through the Lambda service, and RDS Proxy IAM tokens are signed
 * locally, so nothing else is needed. If a function starts calling another AWS API, add its endpoint here
 * rather than a NAT.
 */
export class Network extends Construct {
  readonly vpc: ec2.Vpc
  readonly subnets: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED }
  readonly secretsManagerEndpoint: ec2.InterfaceVpcEndpoint

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id)

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(props.cidr),
      maxAzs: props.maxAzs,
      natGateways: 0,
      subnetConfiguration: [{ name: 'Isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 20 }],
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
    })

    // Rejected flows are the security signal; accepted ones would multiply the log volume for little insight.
    this.vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(
        new logs.LogGroup(this, 'FlowLogs', { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY }),
      ),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    })

    // HTTPS from anywhere in this VPC, written with the literal CIDR rather than the VPC's attribute so that the
    // rule can be checked at synth.
    const endpointSecurityGroup = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc: this.vpc,
      description: 'Interface endpoints: HTTPS from inside the VPC',
      allowAllOutbound: false,
    })
    endpointSecurityGroup.addIngressRule(ec2.Peer.ipv4(props.cidr), ec2.Port.tcp(443), 'HTTPS from the VPC')
    const endpointOptions = { securityGroups: [endpointSecurityGroup], open: false }
    this.vpc.addInterfaceEndpoint('SqsEndpoint', { service: ec2.InterfaceVpcEndpointAwsService.SQS, ...endpointOptions })
    // The relay puts file events on the bus from inside the VPC.
    this.vpc.addInterfaceEndpoint('EventsEndpoint', { service: ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE, ...endpointOptions })
    this.secretsManagerEndpoint = this.vpc.addInterfaceEndpoint('SecretsManagerEndpoint', {
      service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
      ...endpointOptions,
    })
  }
}
