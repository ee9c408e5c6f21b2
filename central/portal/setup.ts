/**
 * Portal setup from the command line, against the warehouse central is configured for
 * (CENTRAL_* environment, as central/main.ts):
 *
 *   PORTAL_ADMIN_PASSWORD='...' node --import tsx central/portal/setup.ts admin <username> [display name]
 *       creates the FIRST administrator (refused if any account exists; there is no default
 *       password) and prints the TOTP secret and otpauth:// URI to enrol an authenticator.
 *   PORTAL_USER_PASSWORD='...' node --import tsx central/portal/setup.ts user <username> <role> [org unit] [display name]
 *       creates a further account (role: admin, district_manager, centre_manager, qc_officer,
 *       auditor, radiologist; org unit: default the district) and prints its TOTP secret; audited
 *       as made by 'setup'. Administrators normally create accounts in the portal (用户管理).
 *   node --import tsx central/portal/setup.ts seed-demo [year]
 *       seeds the demo district (12 centres, 15 stations, 24 teams, population, staffing).
 */
import { loadCentralConfig } from '../config.ts';
import { openWarehouse } from '../warehouse/open.ts';
import { createPortalAdmin, createPortalUser, seedPortalDemo } from './index.ts';
import { PORTAL_ROLES, type PortalRole } from './accounts.ts';

const [cmd, arg1, ...rest] = process.argv.slice(2);
const config = loadCentralConfig();
const wh = await openWarehouse(config);
try {
  if (cmd === 'admin') {
    const password = process.env.PORTAL_ADMIN_PASSWORD;
    if (!arg1 || !password) {
      console.error('usage: PORTAL_ADMIN_PASSWORD=... setup.ts admin <username> [display name]');
      process.exitCode = 2;
    } else {
      const r = await createPortalAdmin(wh, { username: arg1, displayName: rest.join(' ') || '系统管理员', password });
      console.log(`portal administrator ${arg1} created.\nTOTP secret: ${r.secret}\notpauth URI: ${r.uri}\nAdd it to an authenticator app now (it is also shown once at first sign-in).`);
    }
  } else if (cmd === 'user') {
    const password = process.env.PORTAL_USER_PASSWORD;
    const [role, org, ...name] = rest;
    if (!arg1 || !password || !role || !(PORTAL_ROLES as readonly string[]).includes(role)) {
      console.error(`usage: PORTAL_USER_PASSWORD=... setup.ts user <username> <role> [org unit] [display name]; roles: ${PORTAL_ROLES.join(', ')}`);
      process.exitCode = 2;
    } else {
      const r = await createPortalUser(wh, { username: arg1, role: role as PortalRole, ...(org ? { orgId: org } : {}), displayName: name.join(' ') || arg1, password });
      console.log(`portal account ${arg1} (${role}) created.\nTOTP secret: ${r.secret}\notpauth URI: ${r.uri}`);
    }
  } else if (cmd === 'seed-demo') {
    await seedPortalDemo(wh, arg1 ? Number(arg1) : undefined);
    console.log('demo district seeded');
  } else {
    console.error('commands: admin <username> [name] | user <username> <role> [org unit] [name] | seed-demo [year]');
    process.exitCode = 2;
  }
} catch (e) {
  console.error((e as Error).message);
  process.exitCode = 1;
} finally {
  await wh.close();
}
