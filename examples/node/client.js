'use strict';
// Laurel from Node, with nothing but this repository's protos:
//   1. submit a nomination (as the hospital's nominator),
//   2. read it back,
//   3. send a bad request and print its rich error details
//      (google.rpc.Status in the grpc-status-details-bin trailer),
//   4. withdraw the nomination, so the example can run again (a hospital may
//      have one live nomination per category).
//
// Run it against a stack started with `make run` (or `laurel up`):
//   cd examples/node && npm ci && node client.js
// LAUREL_INTAKE_ADDRESS says where intake listens (default 127.0.0.1:50051).

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'proto');
const ADDRESS = process.env.LAUREL_INTAKE_ADDRESS || '127.0.0.1:50051';
const NOMINATION = JSON.parse(fs.readFileSync(path.join(__dirname, 'nomination.json'), 'utf8'));
const NOMINATOR = {
  id: 'nominator-hnpph-1',
  role: 'nominator',
  organization_id: NOMINATION.nominee.organization_id,
};

// The development token (accepted by services started with
// LAUREL_ENV=development, as `make run` does): "dev." and the actor as
// base64url JSON with the keys id, role and organization_id.
function devToken(actor) {
  return `Bearer dev.${Buffer.from(JSON.stringify(actor)).toString('base64url')}`;
}

// The IntakeService stub, from proto/ (google/api/field_behavior.proto is
// vendored there; google/protobuf/* come with protobufjs).
function intakeClient() {
  const definition = protoLoader.loadSync('laurel/intake/v1/intake.proto', {
    includeDirs: [PROTO_ROOT],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const { IntakeService } = grpc.loadPackageDefinition(definition).laurel.intake.v1;
  return new IntakeService(ADDRESS, grpc.credentials.createInsecure());
}

// google.rpc.Status and the error details, from proto/google/rpc.
function errorTypes() {
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) =>
    target.startsWith('google/protobuf/') ? target : path.join(PROTO_ROOT, target);
  root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto'], { keepCase: true });
  return root;
}

const ERRORS = errorTypes();
const STATUS = ERRORS.lookupType('google.rpc.Status');

function call(client, method, request, actor) {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', devToken(actor));
  metadata.set('x-correlation-id', crypto.randomUUID());
  return new Promise((resolve, reject) => {
    client[method](request, metadata, { deadline: Date.now() + 10000 }, (error, response) =>
      error ? reject(error) : resolve(response));
  });
}

// Every detail of a failed call's google.rpc.Status, one line each.
function richDetails(error) {
  const [raw] = error.metadata ? error.metadata.get('grpc-status-details-bin') : [];
  if (!raw) {
    return ['  (no rich error details)'];
  }
  const status = STATUS.decode(raw);
  const lines = [];
  for (const detail of status.details) {
    const typeName = detail.type_url.slice(detail.type_url.lastIndexOf('/') + 1);
    const message = ERRORS.lookupType(typeName).decode(detail.value);
    if (typeName === 'google.rpc.BadRequest') {
      for (const v of message.field_violations) {
        lines.push(`  BadRequest ${v.field}: ${v.description}`);
      }
    } else if (typeName === 'google.rpc.PreconditionFailure') {
      for (const v of message.violations) {
        lines.push(`  PreconditionFailure ${v.type} (${v.subject}): ${v.description}`);
      }
    } else if (typeName === 'google.rpc.ErrorInfo') {
      lines.push(`  ErrorInfo reason=${message.reason} domain=${message.domain}`);
    } else {
      lines.push(`  ${typeName}: ${JSON.stringify(message.toJSON())}`);
    }
  }
  return lines;
}

function refusal(error) {
  const code = Object.keys(grpc.status).find((name) => grpc.status[name] === error.code);
  return [`refused: ${code} (${error.code}): ${error.details}`, ...richDetails(error)].join('\n');
}

async function main() {
  const intake = intakeClient();
  try {
    const submitted = await call(intake, 'SubmitNomination',
      { ...NOMINATION, nomination_id: crypto.randomUUID() }, NOMINATOR);
    const id = submitted.nomination_id;
    console.log(`submitted ${id} (version ${submitted.version})`);

    const read = await call(intake, 'GetNomination', { nomination_id: id }, NOMINATOR);
    console.log(`read back: status=${read.status} route=${read.route_to}:` +
      `${read.route_organization_id} nominee=${read.nominee.name} ` +
      `fields=${Object.keys(read.fields).length}`);

    // No campaign and no nominating organization: refused before anything runs.
    try {
      await call(intake, 'SubmitNomination', {
        category: NOMINATION.category,
        nominee: { kind: NOMINATION.nominee.kind, name: NOMINATION.nominee.name },
        fields: NOMINATION.fields,
      }, NOMINATOR);
      throw new Error('the bad request was accepted');
    } catch (error) {
      if (error.code === undefined) {
        throw error;
      }
      console.log(`bad request ${refusal(error)}`);
    }

    const withdrawn = await call(intake, 'WithdrawNomination',
      { nomination_id: id, reason: 'the Node example cleans up after itself' }, NOMINATOR);
    console.log(`withdrawn (version ${withdrawn.version})`);
  } finally {
    intake.close();
  }
}

main().catch((error) => {
  console.error(error.code === undefined ? String(error) : refusal(error));
  process.exitCode = 1;
});
