// @ts-check
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * Type-aware linting of everything tsconfig.json type-checks. The rules that
 * matter most here catch promises nobody waits for: an unawaited drizzle query
 * once ran twice, and an unawaited write can outlive the request that made it.
 */
export default defineConfig(
  {
    // Generated, vendored, or not type-checked by tsconfig.json (bench runs on its own).
    ignores: ['node_modules/', '.data/', 'dist/', 'schema/', '**/__generated__/', '**/migrations/', 'bench/', 'docs/'],
  },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      // tsconfig's noUnusedLocals/Parameters report these already, with the compiler's own rules.
      '@typescript-eslint/no-unused-vars': 'off',
      // Off for now, each for a reason: tests read untyped responses (`any`), which the
      // typed documents replace file by file (the `no-unsafe-*` rules; source has no `any`);
      // `no-unnecessary-type-assertion` calls casts unnecessary that drizzle's generics
      // need, and its fix breaks the build; `unbound-method` flags the `{ stop }`
      // handles our services return as closures; `require-await` flags async functions
      // kept async for their callers' contract; enum comparisons are with graphql-js's
      // own string enums (OperationTypeNode), compared to their literals on purpose.
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unsafe-enum-comparison': 'off',
      // Apollo Server's hooks are methods with their own `this`; a plugin object
      // built by a class reaches its owner through a named alias (`const cache = this`).
      '@typescript-eslint/no-this-alias': 'off',
    },
  },
  {
    files: ['**/*.test.ts', '**/test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // The IDE's page script runs in the browser, untyped.
    files: ['**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: globals.browser },
  },
  {
    files: ['eslint.config.js'],
    languageOptions: { globals: globals.node },
  },
);
