import { Duration } from 'aws-cdk-lib'
import type * as apigw from 'aws-cdk-lib/aws-apigatewayv2'
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch'
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions'
import * as iam from 'aws-cdk-lib/aws-iam'
import * as kms from 'aws-cdk-lib/aws-kms'
import type * as lambda from 'aws-cdk-lib/aws-lambda'
import * as sns from 'aws-cdk-lib/aws-sns'
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions'
import type * as sqs from 'aws-cdk-lib/aws-sqs'
import { Construct } from 'constructs'
import type { QueueName } from '../routes.js'
import { METRICS, oldestMessageAlarmSeconds, queueId, queues } from '../settings.js'
import { POWERTOOLS } from './app-function.js'

export interface MonitoringProps {
  readonly httpApi: apigw.IHttpApi
  /** Every queue of `queues` in `lib/settings.ts` with its dead-letter queue; each gets its own alarms. */
  readonly queues: Readonly<Record<QueueName, { readonly queue: sqs.IQueue; readonly deadLetterQueue: sqs.IQueue }>>
  /** Every function, keyed by its construct id, which names its alarms. */
  readonly functions: readonly lambda.Function[]
  /** The relay emits the age of the oldest unpublished outbox row on every run; above this, confirmed files are stuck. */
  readonly outboxAgeThresholdSeconds: number
  readonly alarmEmail?: string
  /** Webhook delivery: the queues' dead-letter queues by queue name, and how many failed attempts are normal. */
  readonly webhooks: WebhookMonitoringProps
}

export interface WebhookMonitoringProps {
  /**
   * Failed attempts per 5 minutes that are business as usual (customers' endpoints fail on their own); above it for
   * 15 minutes, something of ours is more likely broken (the sender's egress, say).
   */
  readonly failedAttemptsThreshold: number
}

/** Alarms on the signals that mean a file will not reach SYNCED on its own, sent to one topic, and a dashboard. */
export class Monitoring extends Construct {
  readonly alarmTopic: sns.Topic
  readonly dashboard: cloudwatch.Dashboard

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id)

    // CloudWatch can publish to an encrypted topic only if the key lets it, which an AWS-managed key cannot.
    const key = new kms.Key(this, 'AlarmTopicKey', { enableKeyRotation: true, description: 'Upload pipeline alarm topic' })
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    )
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', { masterKey: key, enforceSSL: true })
    if (props.alarmEmail) this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail))
    const notify = new actions.SnsAction(this.alarmTopic)
    const alarm = (alarmId: string, options: cloudwatch.CreateAlarmOptions & { metric: cloudwatch.IMetric }) => {
      const created = new cloudwatch.Alarm(this, alarmId, {
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        ...options,
      })
      created.addAlarmAction(notify)
      created.addOkAction(notify)
      return created
    }

    const queueMetrics = queues.map((settings) => {
      const { queue, deadLetterQueue } = props.queues[settings.name]
      const id = queueId(settings.name)
      const everyMinute = { period: Duration.minutes(1), statistic: cloudwatch.Stats.MAXIMUM }
      const deadLetters = deadLetterQueue.metricApproximateNumberOfMessagesVisible(everyMinute)
      alarm(`${id}DeadLetterQueueNotEmpty`, {
        alarmDescription: `A ${settings.name} message exhausted its ${settings.maxReceiveCount} receives. See docs/RUNBOOK.md, "Redriving a dead-letter queue".`,
        metric: deadLetters,
        threshold: 0,
        evaluationPeriods: 1,
      })
      const oldestAge = queue.metricApproximateAgeOfOldestMessage(everyMinute)
      alarm(`${id}QueueBacklog`, {
        alarmDescription: `The ${settings.name} queue's consumer is failing or not keeping up. See docs/RUNBOOK.md, "Alarms".`,
        metric: oldestAge,
        threshold: oldestMessageAlarmSeconds(settings),
        evaluationPeriods: 5,
      })
      // Labelled for the dashboard only: a labelled metric would turn each alarm into a metric-math alarm.
      const label = (metric: cloudwatch.Metric, what: string) => metric.with({ label: `${settings.name} ${what}` })
      return {
        visible: label(queue.metricApproximateNumberOfMessagesVisible(everyMinute), 'visible'),
        deadLetters: label(deadLetters, 'dead letters'),
        oldestAge: label(oldestAge, 'oldest message age'),
      }
    })

    const outboxAge = new cloudwatch.Metric({
      namespace: POWERTOOLS.metricsNamespace,
      metricName: METRICS.outboxOldestAgeSeconds,
      dimensionsMap: { service: POWERTOOLS.serviceName },
      statistic: cloudwatch.Stats.MAXIMUM,
      period: Duration.minutes(1),
    })
    alarm('OutboxStuck', {
      alarmDescription:
        'Confirmed files are not being published to the queue, or the relay stopped reporting (missing data breaches).',
      metric: outboxAge,
      threshold: props.outboxAgeThresholdSeconds,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    })

    const serverErrors = props.httpApi.metricServerError({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM })
    alarm('ApiServerErrors', {
      alarmDescription: 'The API answered 5xx (function errors, timeouts or integration failures).',
      metric: serverErrors,
      threshold: 5,
      evaluationPeriods: 1,
    })

    for (const fn of props.functions) {
      const name = fn.node.id
      alarm(`${name}Errors`, {
        alarmDescription: `${name} threw or timed out.`,
        metric: fn.metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
        threshold: 0,
        evaluationPeriods: 1,
      })
      alarm(`${name}Throttles`, {
        alarmDescription: `${name} was throttled: account concurrency is exhausted or a limit is too low.`,
        metric: fn.metricThrottles({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
        threshold: 0,
        evaluationPeriods: 1,
      })
    }

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'API requests and errors',
            left: [props.httpApi.metricCount(), props.httpApi.metricClientError(), serverErrors],
          }),
          new cloudwatch.GraphWidget({
            title: 'API latency p99 (ms)',
            left: [props.httpApi.metricLatency({ statistic: 'p99' }), props.httpApi.metricIntegrationLatency({ statistic: 'p99' })],
          }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Outbox oldest age (s)', left: [outboxAge] }),
          new cloudwatch.GraphWidget({
            title: 'Queues: visible and dead letters (left), oldest message age in s (right)',
            left: queueMetrics.flatMap((m) => [m.visible, m.deadLetters]),
            right: queueMetrics.map((m) => m.oldestAge),
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Function errors',
            left: props.functions.map((fn) => fn.metricErrors({ label: fn.node.id })),
          }),
          new cloudwatch.GraphWidget({
            title: 'Function throttles',
            left: props.functions.map((fn) => fn.metricThrottles({ label: fn.node.id })),
          }),
          new cloudwatch.GraphWidget({
            title: 'Function duration p99 (ms)',
            left: props.functions.map((fn) => fn.metricDuration({ label: fn.node.id, statistic: 'p99' })),
          }),
        ],
      ],
    })

    this.webhookAlarms(props.webhooks, alarm)
  }

  /** Deliveries failing across endpoints, endpoints disabled, and messages the webhook consumers gave up on. */
  private webhookAlarms(props: WebhookMonitoringProps, alarm: (id: string, options: cloudwatch.CreateAlarmOptions & { metric: cloudwatch.IMetric }) => cloudwatch.Alarm): void {
    const emitted = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: METRICS.namespace,
        metricName,
        dimensionsMap: { service: METRICS.serviceName },
        statistic: cloudwatch.Stats.SUM,
        period: Duration.minutes(5),
      })
    const failedAttempts = emitted(METRICS.webhookAttemptsFailed)
    alarm('WebhookDeliveryFailures', {
      alarmDescription:
        'Webhook attempts are failing in numbers beyond what customer endpoints cause on their own. See docs/RUNBOOK.md, ' +
        '"Webhooks": the delivery log says why.',
      metric: failedAttempts,
      threshold: props.failedAttemptsThreshold,
      evaluationPeriods: 3,
    })
    const disabled = emitted(METRICS.webhookEndpointsDisabled)
    alarm('WebhookEndpointDisabled', {
      alarmDescription: 'A webhook endpoint was disabled (410 Gone, or failing through its whole retry schedule). See docs/RUNBOOK.md, "Re-enabling a webhook endpoint".',
      metric: disabled,
      threshold: 0,
      evaluationPeriods: 1,
    })
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Webhook attempts failed, endpoints disabled', left: [failedAttempts], right: [disabled] }),
    )
  }
}
