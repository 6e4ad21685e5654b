// The package types: the declarations compiled from lib/ (see lib/index.ts).
export * from './dist/index'
