// Oracle for pollab's gauntlet.Rate: reads {"cases":[{"ratings":[[mu,sigma],...],"scores":[...],"quirk":bool}]}
// on stdin and writes {"version":{...},"results":[[[mu,sigma],...],...]} on stdout, rating each case
// with openskill's Plackett-Luce (beta 7, tau 0.1, kappa 1e-4, one-player teams, rate with scores).
// quirk false: openskill@5.0.1 (rank[i] ?? i); quirk true: openskill@4.1.1 (rank[i] || i, as
// openskill.py's `ranks[i] or i`). Run from this directory after `npm ci`.
import { readFileSync } from 'node:fs'
import { rate as rate5 } from 'openskill'
import { rate as rate4 } from 'openskill4'

const opts = { beta: 7, tau: 0.1, kappa: 1e-4, epsilon: 1e-4, mu: 25, sigma: 25 / 3 }
const input = JSON.parse(readFileSync(0, 'utf8'))
const pkg = (name) => JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), 'utf8')).version
const results = input.cases.map(({ ratings, scores, quirk }) => {
  const teams = ratings.map(([mu, sigma]) => [{ mu, sigma }])
  const rate = quirk ? rate4 : rate5
  return rate(teams, { ...opts, score: scores }).map(([p]) => [p.mu, p.sigma])
})
process.stdout.write(JSON.stringify({ version: { openskill: pkg('openskill'), openskill4: pkg('openskill4') }, results }))
