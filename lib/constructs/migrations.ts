import { Duration } from 'aws-cdk-lib'
import * as triggers from 'aws-cdk-lib/triggers'
import { Construct } from 'constructs'
import { AppFunction, type AppFunctionDefaults, type PipelineResources } from './app-function.js'

export const MIGRATE_ENTRY = 'functions/migrate.ts'

export interface MigrationsProps {
  readonly resources: PipelineResources
  readonly functionDefaults: AppFunctionDefaults
  /** Migrations run after these exist (the database)... */
  readonly after: readonly Construct[]
  /** ...and before any of these is created or updated (everything that serves traffic or touches the schema). */
  readonly before: readonly Construct[]
}

/**
 * Applies the database migrations during `cdk deploy`, between the data layer and the code that uses it, so new
 * code never meets an old schema. A failed migration fails the deployment, and CloudFormation rolls back
 * before any function is updated.
 *
 * The trigger runs whenever the migrate function's version changes, and every migration is bundled into that
 * function, so any deploy that ships a new migration (or new database settings) runs it. Forcing a run on
 * deploys that change nothing would need a value that differs on every synth, which would make synth
 * non-deterministic; the runbook shows how to invoke the function by hand instead.
 */
export class Migrations extends Construct {
  readonly function: AppFunction

  constructor(scope: Construct, id: string, props: MigrationsProps) {
    super(scope, id)
    const timeout = Duration.minutes(5)
    this.function = new AppFunction(this, 'Migrate', {
      ...props.functionDefaults,
      entry: MIGRATE_ENTRY,
      timeoutSeconds: timeout.toSeconds(),
    }).bind(props.resources, {})

    new triggers.Trigger(this, 'RunOnDeploy', {
      handler: this.function,
      invocationType: triggers.InvocationType.REQUEST_RESPONSE,
      timeout,
      // The function itself too: its ingress rule to the database proxy is a separate resource.
      executeAfter: [...props.after, this.function],
      executeBefore: [...props.before],
    })
  }
}
