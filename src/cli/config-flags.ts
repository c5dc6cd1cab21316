import { Option, type Command } from 'commander';
import {
  loadConfigFromEnvironment,
  settingGiven,
  type Config,
  type ConfigPurpose,
  type SettingSource,
} from '../config/config.js';
import { flagOf } from '../config/flags.js';
import { SETTINGS } from '../config/settings.js';

function attributeOf(variable: string): string {
  return flagOf(variable)
    .slice(2)
    .replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

/** Gives a command one flag per setting (hidden from --help but for `shown`), named after its variable. */
export function addConfigFlags(command: Command, shown: readonly string[] = []): Command {
  for (const setting of SETTINGS) {
    // a command's own flag of the same name means something else there (sim-cluster --kubeconfig)
    if (command.options.some((existing) => existing.long === flagOf(setting.env))) continue;
    const option = new Option(`${flagOf(setting.env)} <value>`, `${setting.doc} (${setting.env})`);
    command.addOption(shown.includes(setting.env) ? option : option.hideHelp());
  }
  return command;
}

/**
 * The config: the command's setting flags first, then `extra`, then the environment; `fallback`
 * fills variables the environment does not set.
 */
export function configFromFlags(
  options: Record<string, unknown>,
  extra: SettingSource = {},
  fallback: SettingSource = {},
  purpose: ConfigPurpose = 'command',
): Config {
  const overrides: SettingSource = { ...extra };
  for (const [variable, value] of Object.entries(fallback)) {
    if (!settingGiven(variable)) overrides[variable] ??= value;
  }
  for (const setting of SETTINGS) {
    const value = options[attributeOf(setting.env)];
    if (typeof value === 'string') overrides[setting.env] = value;
  }
  return loadConfigFromEnvironment(overrides, purpose);
}
