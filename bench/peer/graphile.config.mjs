// PostGraphile v5 configuration for the peer side of carehub's benchmark.
// bench/run copies this file into $BENCH_SCRATCH/postgraphile/ (where PostGraphile is
// npm-installed at run time -- nothing of PostGraphile is committed) and starts
//   NODE_ENV=production node node_modules/postgraphile/dist/cli-run.js -C graphile.config.mjs
// Adapted from ../shared/bench/peer/graphile.config.mjs.
//
// It serves carehub's own tables (schema `public` of the bench database, created by
// `carehub migrate up` and filled by `carehub seed`) under PostGraphile's naming (Amber preset:
// allChildren, childByRowId, screeningsByChildId, createVisit, ...), plus the schema
// `bench_peer`: two STABLE SQL functions that express the head teacher's and the clinician's
// row scope (PostGraphile has no row scopes of its own without RLS; the peer runs with no
// authorization at all, as issue 8 specifies). No GraphiQL, no watch mode, no subscriptions,
// bound to 127.0.0.1, pool of BENCH_PEER_POOL connections (10, carehub's default).
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";

const connectionString = process.env.BENCH_DATABASE_URL;
if (!connectionString) throw new Error("BENCH_DATABASE_URL is not set");

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  // By default v5 offers `orderBy`/`condition` only on indexed columns. carehub lists nested
  // records newest first by columns that are not indexed (e.g. guardians.created_at); the peer
  // needs the same orders to return the same rows, so the index check is switched off.
  disablePlugins: ["PgIndexBehaviorsPlugin"],
  pgServices: [
    makePgService({
      connectionString,
      schemas: ["public", "bench_peer"],
      pubsub: false,
      poolConfig: { max: Number(process.env.BENCH_PEER_POOL || 10) },
    }),
  ],
  grafserv: {
    host: "127.0.0.1",
    port: Number(process.env.BENCH_PEER_PORT || 47678),
    graphqlPath: "/graphql",
    graphiql: false,
    watch: false,
    maxRequestLength: 100000,
  },
  grafast: {
    explain: false,
  },
};

export default preset;
