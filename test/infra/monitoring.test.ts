import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleConfig, synthLifeboat, SYNTH_TIMEOUT_MS, type SynthesizedLifeboat } from './support.ts';

describe('monitoring from the example config', () => {
  let lifeboat: SynthesizedLifeboat;
  beforeAll(() => {
    lifeboat = synthLifeboat(exampleConfig());
  }, SYNTH_TIMEOUT_MS);

  it('synthesizes', () => {
    const alarms = lifeboat.primary.findResources('AWS::CloudWatch::Alarm');
    console.log(Object.values(alarms).map((a: any) => a.Properties.AlarmName).join('\n'));
    expect(Object.keys(alarms).length).toBeGreaterThan(0);
  });
});
