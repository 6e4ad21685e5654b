// The package entry: the compiled TypeScript API in dist/ (see lib/ for the sources).
module.exports = require('./dist/index.js')
