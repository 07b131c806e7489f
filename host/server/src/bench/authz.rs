//! `zhiyun bench --authz`: the permission check of a launch, at scale.
//!
//! Builds in memory, deterministically (SplitMix64, fixed seed), through the
//! `zhiyun-authz` types and without a database:
//!
//! - an org tree of 2,000 orgs: one 二级单位 root, 40 县公司 under it, and
//!   1,959 供电所/部门 spread over the counties (some 部门 one level further
//!   down, under a 供电所);
//! - 100 roles: the 7 built-in ones with their stored defaults and 93
//!   custom ones with varied default scopes and levels;
//! - 10,000 users with 1–3 posts (role, org), a few overriding the role's
//!   scope;
//! - one dataset policy of 20 columns of mixed sensitivity with an org and
//!   an owner column, and 8 app grants on it (4 unrestricted, 4 restricted
//!   to org subtrees).
//!
//! Then it times, for users and apps drawn uniformly, what a launch does
//! per dataset: [`effective_access`] followed by rendering the row filter as
//! a SQL predicate ([`EffectiveAccess::predicate`]), results dropped inside
//! the timing. Twice: with each user's [`UserCtx`] built beforehand, and
//! with the `UserCtx` built per call from the user's stored posts and the
//! role table (what [`zhiyun_authz::identity::Identity::user_ctx`] does after
//! its SQL query — the query itself is not measured here).

use super::{pct, us};
use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};
use zhiyun_authz::access::{
    AppGrant, ColumnPolicy, DatasetGrant, DatasetPolicy, EffectiveAccess, PostGrant, UserCtx,
    effective_access,
};
use zhiyun_authz::identity::{Role, RoleDef};
use zhiyun_authz::org::{Org, OrgKind, OrgTree};
use zhiyun_authz::scope::{DataScope, MaskKind, Sensitivity};
use zhiyun_data::SplitMix64;

const ORGS: usize = 2_000;
const COUNTIES: usize = 40;
const CUSTOM_ROLES: usize = 93;
const USERS: usize = 10_000;
const SEED: u64 = 0x7a68_6979_756e; // "zhiyun"
const ROOT: &str = "3300";
const DATASET: &str = "fund_ledger";

/// A post as stored: the role by id, the scope only if the post overrides it.
struct StoredPost {
    role_id: String,
    org_id: String,
    scope: Option<DataScope>,
}

/// A user as stored, with its posts.
struct StoredUser {
    username: String,
    org_id: String,
    posts: Vec<StoredPost>,
}

/// Everything a launch's permission check reads.
struct World {
    tree: OrgTree,
    /// By role id.
    roles: HashMap<String, RoleDef>,
    users: Vec<StoredUser>,
    dataset: DatasetPolicy,
    apps: Vec<AppGrant>,
}

/// The org tree's input: root, counties, then stations and departments.
/// Ids follow the demo's style: `3300`, `3301`…`3340`, `3301001`….
fn orgs(rng: &mut SplitMix64) -> Vec<Org> {
    let org = |id: String, name: String, parent: Option<&str>, kind| Org {
        code: id.clone(),
        id,
        name,
        parent_id: parent.map(str::to_string),
        kind,
    };
    let mut orgs = vec![org(
        ROOT.into(),
        "示范市供电公司".into(),
        None,
        OrgKind::SecondaryUnit,
    )];
    let counties: Vec<String> = (1..=COUNTIES).map(|c| format!("33{c:02}")).collect();
    for (c, id) in counties.iter().enumerate() {
        orgs.push(org(
            id.clone(),
            format!("县公司{:02}", c + 1),
            Some(ROOT),
            OrgKind::CountyCompany,
        ));
    }
    let mut stations: Vec<Vec<String>> = vec![Vec::new(); COUNTIES];
    let mut seq = [0u32; COUNTIES];
    while orgs.len() < ORGS {
        let c = rng.below(COUNTIES as u64) as usize;
        seq[c] += 1;
        let id = format!("{}{:03}", counties[c], seq[c]);
        let roll = rng.below(10);
        if roll < 2 && !stations[c].is_empty() {
            // A 部门 under one of the county's 供电所 (level 4).
            let parent = stations[c][rng.below(stations[c].len() as u64) as usize].clone();
            let name = format!("{parent}班组{}", seq[c]);
            orgs.push(org(id, name, Some(&parent), OrgKind::Department));
        } else if roll < 4 {
            let name = format!("{}部门{}", counties[c], seq[c]);
            orgs.push(org(id, name, Some(&counties[c]), OrgKind::Department));
        } else {
            let name = format!("{}供电所{}", counties[c], seq[c]);
            orgs.push(org(
                id.clone(),
                name,
                Some(&counties[c]),
                OrgKind::SupplyStation,
            ));
            stations[c].push(id);
        }
    }
    orgs
}

/// The 7 built-in roles with the defaults the migrations store, and 93
/// custom ones with varied default scopes (mostly 本单位及下级) and levels.
fn roles(rng: &mut SplitMix64, org_ids: &[String]) -> Vec<RoleDef> {
    use DataScope::*;
    use Sensitivity::*;
    let builtin = [
        (SelfOnly, Public),
        (SelfOnly, Public),
        (SelfOnly, Public),
        (OrgOnly, Internal),
        (OrgAndBelow, Internal),
        (OrgAndBelow, Sensitive),
        (OrgAndBelow, Internal),
    ];
    let mut roles: Vec<RoleDef> = Role::BUILTIN
        .into_iter()
        .zip(builtin)
        .map(|(role, (data_scope, max_sensitivity))| RoleDef {
            name: role.builtin_name().unwrap_or_default().to_string(),
            role,
            data_scope,
            max_sensitivity,
        })
        .collect();
    for i in 0..CUSTOM_ROLES {
        let data_scope = match rng.below(20) {
            0 => All,
            1 | 2 => SelfOnly,
            3..=6 => OrgOnly,
            7..=9 => Custom(
                (0..2 + rng.below(7))
                    .map(|_| org_ids[rng.below(org_ids.len() as u64) as usize].clone())
                    .collect(),
            ),
            _ => OrgAndBelow,
        };
        roles.push(RoleDef {
            role: Role::Custom(format!("custom-{i:02}")),
            name: format!("自定义角色{i:02}"),
            data_scope,
            max_sensitivity: Sensitivity::ALL[rng.below(4) as usize],
        });
    }
    roles
}

/// 10,000 users, each in one org (85 % a 供电所/部门, 13 % a 县公司, 2 % the
/// root) with 1–3 distinct posts: the first in the user's own org, the
/// others in the same org, its parent or any org. Roles: half 业务用户, then
/// 单位领导, 审核员, 部门开发者, a few admins (at the root, one admin role per
/// user), the rest custom. One post in ten overrides the role's scope.
fn users(rng: &mut SplitMix64, tree: &OrgTree, roles: &[RoleDef]) -> Vec<StoredUser> {
    let all: Vec<&str> = tree.iter().map(|o| o.id()).collect();
    let counties: Vec<&str> = tree.root().children().map(|o| o.id()).collect();
    let below: Vec<&str> = tree
        .iter()
        .filter(|o| o.level() > 2)
        .map(|o| o.id())
        .collect();
    let pick = |rng: &mut SplitMix64, v: &[&str]| v[rng.below(v.len() as u64) as usize].to_string();
    let custom = &roles[Role::BUILTIN.len()..];
    (0..USERS)
        .map(|i| {
            let org_id = match rng.below(100) {
                0..=1 => ROOT.to_string(),
                2..=14 => pick(rng, &counties),
                _ => pick(rng, &below),
            };
            let mut posts: Vec<StoredPost> = Vec::new();
            let mut has_admin = false;
            for n in 0..1 + rng.below(3) {
                let mut role = match rng.below(100) {
                    0..=49 => Role::BusinessUser,
                    50..=57 => Role::UnitLeader,
                    58..=61 => Role::Reviewer,
                    62..=65 => Role::DepartmentDeveloper,
                    66 => Role::ADMIN_TRIAD[rng.below(3) as usize].clone(),
                    _ => custom[rng.below(custom.len() as u64) as usize].role.clone(),
                };
                if role.is_admin_triad() && has_admin {
                    role = Role::BusinessUser;
                }
                let post_org = if role.is_admin_triad() {
                    has_admin = true;
                    ROOT.to_string()
                } else if n == 0 {
                    org_id.clone()
                } else {
                    match rng.below(4) {
                        0 | 1 => org_id.clone(),
                        2 => tree
                            .get(&org_id)
                            .and_then(|o| o.parent())
                            .map_or(org_id.clone(), |p| p.id().to_string()),
                        _ => pick(rng, &all),
                    }
                };
                let scope = match rng.below(20) {
                    0 => Some(DataScope::OrgOnly),
                    1 => Some(DataScope::OrgAndBelow),
                    _ => None,
                };
                if !posts
                    .iter()
                    .any(|p| p.role_id == role.id() && p.org_id == post_org)
                {
                    posts.push(StoredPost {
                        role_id: role.id().to_string(),
                        org_id: post_org,
                        scope,
                    });
                }
            }
            StoredUser {
                username: format!("u{i:05}"),
                org_id,
                posts,
            }
        })
        .collect()
}

/// A ledger of 20 columns: 5 公开, 8 内部, 5 敏感, 2 核心; `org_id` is the
/// org column, `owner` the owner column.
fn dataset() -> DatasetPolicy {
    use MaskKind::*;
    use Sensitivity::*;
    let columns = [
        ("org_id", Public, Full),
        ("org_name", Public, Full),
        ("biz_date", Public, Full),
        ("remark", Public, Full),
        ("owner", Public, Full),
        ("acct_code", Internal, Full),
        ("acct_name", Internal, Full),
        ("amount", Internal, Full),
        ("closing", Internal, Full),
        ("budget", Internal, Full),
        ("bank_name", Internal, Full),
        ("payee_name", Internal, Name),
        ("approver", Internal, Name),
        ("acct_no", Sensitive, BankAccount),
        ("contact_phone", Sensitive, Phone),
        ("holder_name", Sensitive, Name),
        ("salary", Sensitive, Full),
        ("bonus", Sensitive, Full),
        ("holder_id", Core, IdNumber),
        ("tax_id", Core, Full),
    ];
    DatasetPolicy {
        name: DATASET.into(),
        org_column: Some("org_id".into()),
        owner_column: Some("owner".into()),
        columns: columns
            .into_iter()
            .map(|(name, sensitivity, mask)| ColumnPolicy {
                name: name.into(),
                sensitivity,
                mask,
            })
            .collect(),
    }
}

/// 8 apps granted the dataset: 4 on every org (one per level) and 4
/// restricted — to one county, to another, to three counties, to one
/// 供电所's subtree.
fn apps(tree: &OrgTree) -> Vec<AppGrant> {
    let station = tree
        .iter()
        .find(|o| o.kind() == OrgKind::SupplyStation && o.children().next().is_some())
        .map_or("3301", |o| o.id())
        .to_string();
    let restricted = |orgs: &[&str]| Some(orgs.iter().map(|s| s.to_string()).collect());
    let grants = [
        ("all-public", None, Sensitivity::Public),
        ("all-internal", None, Sensitivity::Internal),
        ("all-sensitive", None, Sensitivity::Sensitive),
        ("all-core", None, Sensitivity::Core),
        ("county-3301", restricted(&["3301"]), Sensitivity::Sensitive),
        ("county-3320", restricted(&["3320"]), Sensitivity::Core),
        (
            "counties-3",
            restricted(&["3305", "3306", "3307"]),
            Sensitivity::Internal,
        ),
        ("station", restricted(&[&station]), Sensitivity::Core),
    ];
    grants
        .into_iter()
        .map(|(app_id, orgs, max_sensitivity)| AppGrant {
            app_id: app_id.into(),
            datasets: [(
                DATASET.to_string(),
                DatasetGrant {
                    orgs,
                    max_sensitivity,
                },
            )]
            .into(),
        })
        .collect()
}

/// The in-memory half of `Identity::user_ctx`: each post's effective scope
/// (the post's override or the role's default) and the role's level.
fn user_ctx(user: &StoredUser, roles: &HashMap<String, RoleDef>) -> UserCtx {
    UserCtx {
        username: user.username.clone(),
        org_id: user.org_id.clone(),
        posts: user
            .posts
            .iter()
            .map(|p| {
                let role = &roles[&p.role_id];
                PostGrant {
                    role: role.role.clone(),
                    org_id: p.org_id.clone(),
                    scope: p.scope.clone().unwrap_or_else(|| role.data_scope.clone()),
                    max_sensitivity: role.max_sensitivity,
                }
            })
            .collect(),
    }
}

/// What a launch does per dataset: the check, then the SQL predicate.
/// Returns the number of parameters, or `None` if denied.
fn check(world: &World, user: &UserCtx, app: &AppGrant) -> Option<usize> {
    let access: Result<EffectiveAccess, _> =
        effective_access(&world.tree, user, app, &world.dataset);
    let access = access.ok()?;
    let (sql, params) = access.predicate(1);
    black_box(&sql);
    Some(params.len())
}

/// One timed call per (user, app) pair; the times sorted, plus what the
/// calls returned.
struct Timings {
    times: Vec<Duration>,
    allowed: Vec<Duration>,
    by_app: Vec<Vec<Duration>>,
    denied: usize,
    params: Vec<usize>,
}

fn measure(
    world: &World,
    sample: &[(usize, usize)],
    mut call: impl FnMut(usize, usize) -> Option<usize>,
) -> Timings {
    // Warm up (caches, allocator, branch predictors) on the first pairs.
    for &(u, a) in sample.iter().take(10_000) {
        black_box(call(u, a));
    }
    let mut t = Timings {
        times: Vec::with_capacity(sample.len()),
        allowed: Vec::with_capacity(sample.len()),
        by_app: vec![Vec::new(); world.apps.len()],
        denied: 0,
        params: Vec::with_capacity(sample.len()),
    };
    for &(u, a) in sample {
        let started = Instant::now();
        let result = black_box(call(u, a));
        let took = started.elapsed();
        t.times.push(took);
        t.by_app[a].push(took);
        match result {
            Some(n) => {
                t.allowed.push(took);
                t.params.push(n);
            }
            None => t.denied += 1,
        }
    }
    t.times.sort();
    t.allowed.sort();
    t.params.sort();
    for v in &mut t.by_app {
        v.sort();
    }
    t
}

fn p50_p99(sorted: &[Duration]) -> String {
    format!(
        "p50 {:.2} µs, p99 {:.2} µs",
        us(pct(sorted, 50.0)),
        us(pct(sorted, 99.0))
    )
}

pub fn run(calls: usize) -> anyhow::Result<()> {
    let calls = calls.max(1);
    let mut rng = SplitMix64::new(SEED);

    // One-time costs: generating, building the tree, filling its subtree
    // cache (lazy in production: each org's set is built on first use).
    let t = Instant::now();
    let org_list = orgs(&mut rng);
    let org_ids: Vec<String> = org_list.iter().map(|o| o.id.clone()).collect();
    let generate_orgs = t.elapsed();
    let t = Instant::now();
    let tree = OrgTree::build(org_list)?;
    let build_tree = t.elapsed();
    let t = Instant::now();
    let subtree_orgs: usize = tree
        .iter()
        .map(|o| tree.subtree(o.id()).map_or(0, |s| s.len()))
        .sum();
    let fill_subtrees = t.elapsed();
    let t = Instant::now();
    let role_list = roles(&mut rng, &org_ids);
    let users = users(&mut rng, &tree, &role_list);
    let roles: HashMap<String, RoleDef> = role_list
        .into_iter()
        .map(|r| (r.role.id().to_string(), r))
        .collect();
    let generate_users = t.elapsed();
    let world = World {
        apps: apps(&tree),
        dataset: dataset(),
        tree,
        roles,
        users,
    };
    let t = Instant::now();
    let ctxs: Vec<UserCtx> = world
        .users
        .iter()
        .map(|u| user_ctx(u, &world.roles))
        .collect();
    let build_ctxs = t.elapsed();

    let kinds = |k: OrgKind| world.tree.iter().filter(|o| o.kind() == k).count();
    let depth = world.tree.iter().map(|o| o.level()).max().unwrap_or(0);
    let posts: usize = world.users.iter().map(|u| u.posts.len()).sum();
    let restricted = world
        .apps
        .iter()
        .filter(|a| a.datasets[DATASET].orgs.is_some())
        .count();
    println!(
        "zhiyun bench --authz — in memory, no database: {} orgs (1 二级单位, {} 县公司, {} 供电所, {} 部门; depth {depth}), {} roles ({} built-in + {CUSTOM_ROLES} custom), {} users with {posts} posts, 1 dataset policy ({} columns, org + owner column), {} app grants ({} unrestricted, {restricted} restricted to subtrees)",
        world.tree.len(),
        kinds(OrgKind::CountyCompany),
        kinds(OrgKind::SupplyStation),
        kinds(OrgKind::Department),
        world.roles.len(),
        Role::BUILTIN.len(),
        world.users.len(),
        world.dataset.columns.len(),
        world.apps.len(),
        world.apps.len() - restricted,
    );
    println!(
        "one-time: OrgTree::build {:.2} ms; all {} subtree sets ({subtree_orgs} ids) {:.2} ms; generating orgs {:.2} ms, roles + users {:.2} ms; {} UserCtx {:.2} ms",
        build_tree.as_secs_f64() * 1e3,
        world.tree.len(),
        fill_subtrees.as_secs_f64() * 1e3,
        generate_orgs.as_secs_f64() * 1e3,
        generate_users.as_secs_f64() * 1e3,
        ctxs.len(),
        build_ctxs.as_secs_f64() * 1e3,
    );

    // The sample: (user, app) pairs drawn uniformly, the same for both runs.
    let sample: Vec<(usize, usize)> = (0..calls)
        .map(|_| {
            (
                rng.below(world.users.len() as u64) as usize,
                rng.below(world.apps.len() as u64) as usize,
            )
        })
        .collect();

    let runs = [
        (
            "effective_access + predicate (UserCtx prebuilt)",
            measure(&world, &sample, |u, a| {
                check(&world, &ctxs[u], &world.apps[a])
            }),
        ),
        (
            "UserCtx from posts + roles, effective_access + predicate",
            measure(&world, &sample, |u, a| {
                let ctx = user_ctx(&world.users[u], &world.roles);
                check(&world, &ctx, &world.apps[a])
            }),
        ),
    ];
    for (what, t) in &runs {
        println!(
            "{what}: {} over {} calls ({} allowed, {} denied); allowed only: {}",
            p50_p99(&t.times),
            t.times.len(),
            t.allowed.len(),
            t.denied,
            p50_p99(&t.allowed),
        );
    }
    let (_, first) = &runs[0];
    println!(
        "predicate parameters (allowed calls): median {}, p99 {}, max {}",
        first.params.get(first.params.len() / 2).unwrap_or(&0),
        first
            .params
            .get(first.params.len() * 99 / 100)
            .unwrap_or(&0),
        first.params.last().unwrap_or(&0),
    );
    for (app, times) in world.apps.iter().zip(&first.by_app) {
        println!("  app {:<14} {}", app.app_id, p50_p99(times));
    }
    let p50 = us(pct(&runs[1].1.times, 50.0));
    println!(
        "goal p50 ≤ 20 µs (with UserCtx): {p50:.2} µs → {}",
        if p50 <= 20.0 { "met" } else { "NOT met" }
    );
    policy_at_scale(&world, &sample, &mut rng)
}

// ---- the casbin policy at the same scale -------------------------------------

/// Menu directories and the apps placed on them (5 per directory).
const MENU_DIRS: usize = 10;
const APPS_PER_DIR: usize = 5;

/// Writes the world into a fresh SQLite platform store (orgs, custom roles,
/// users, posts, a menu tree with apps and the roles that see it, actions
/// for the custom roles), loads [`Policy`] from it and times its decisions
/// for the same (user, app) sample: `can_use_app` and `allows_action`,
/// first (casbin evaluates) and again (the per-version decision cache).
fn policy_at_scale(
    world: &World,
    sample: &[(usize, usize)],
    rng: &mut SplitMix64,
) -> anyhow::Result<()> {
    use zhiyun_authz::Policy;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    let custom: Vec<&RoleDef> = world
        .roles
        .values()
        .filter(|r| r.role.builtin_name().is_none())
        .collect();
    let mut role_ids: Vec<&str> = world.roles.keys().map(String::as_str).collect();
    role_ids.sort_unstable();
    let app_ids: Vec<String> = (0..MENU_DIRS * APPS_PER_DIR)
        .map(|i| format!("app-{i:02}"))
        .collect();
    let actions: Vec<&str> = zhiyun_authz::policy::ACTIONS
        .iter()
        .map(|(a, _)| *a)
        .collect();

    let (load, rules) = runtime.block_on(async {
        let store = zhiyun_store::Store::open_sqlite(dir.path()).await?;
        let mut tx = store.begin_write().await?;
        for o in world.tree.iter() {
            sqlx::query(
                "INSERT INTO orgs (org_id, code, name, parent_id, kind, created_at) VALUES ($1, $1, $2, $3, $4, 0)",
            )
            .bind(o.id())
            .bind(o.name())
            .bind(o.parent().map(|p| p.id().to_string()))
            .bind(o.kind().as_str())
            .execute(&mut *tx)
            .await?;
        }
        for r in &custom {
            sqlx::query(
                "INSERT INTO roles (role_id, name, builtin, data_scope, max_sensitivity, created_at) VALUES ($1, $1, 0, $2, $3, 0)",
            )
            .bind(r.role.id())
            .bind(r.data_scope.to_json())
            .bind(r.max_sensitivity.as_str())
            .execute(&mut *tx)
            .await?;
            for _ in 0..1 + rng.below(3) {
                let action = actions[rng.below(actions.len() as u64) as usize];
                sqlx::query("INSERT INTO role_actions (role_id, action) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(r.role.id())
                    .bind(action)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        for u in &world.users {
            sqlx::query(
                "INSERT INTO users (username, display_name, org_id, status, password_hash, created_at, updated_at) VALUES ($1, $1, $2, 'active', '-', 0, 0)",
            )
            .bind(&u.username)
            .bind(&u.org_id)
            .execute(&mut *tx)
            .await?;
            for p in &u.posts {
                sqlx::query(
                    "INSERT INTO posts (username, role_id, org_id, data_scope, granted_by, granted_at) VALUES ($1, $2, $3, $4, 'bench', 0) ON CONFLICT DO NOTHING",
                )
                .bind(&u.username)
                .bind(&p.role_id)
                .bind(&p.org_id)
                .bind(p.scope.as_ref().map(DataScope::to_json))
                .execute(&mut *tx)
                .await?;
            }
        }
        for d in 0..MENU_DIRS {
            let dir_id = format!("dir-{d}");
            sqlx::query("INSERT INTO menus (menu_id, title, created_at, updated_at) VALUES ($1, $1, 0, 0)")
                .bind(&dir_id)
                .execute(&mut *tx)
                .await?;
            for (i, app) in app_ids[d * APPS_PER_DIR..(d + 1) * APPS_PER_DIR].iter().enumerate() {
                sqlx::query(
                    "INSERT INTO menus (menu_id, parent_id, title, app_id, sort_order, created_at, updated_at) VALUES ($1, $2, $1, $3, $4, 0, 0)",
                )
                .bind(format!("{dir_id}.{app}"))
                .bind(&dir_id)
                .bind(app)
                .bind(i as i64)
                .execute(&mut *tx)
                .await?;
            }
            // Each directory is seen by 10 roles drawn at random.
            for _ in 0..10 {
                let role = role_ids[rng.below(role_ids.len() as u64) as usize];
                sqlx::query("INSERT INTO menu_roles (menu_id, role_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(&dir_id)
                    .bind(role)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        zhiyun_authz::policy::bump_version(&mut tx).await?;
        tx.commit().await?;
        let rules: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM posts) + (SELECT COUNT(*) FROM role_actions) + (SELECT COUNT(*) FROM menu_roles) + (SELECT COUNT(*) FROM menus)",
        )
        .fetch_one(store.pool())
        .await?;
        let t = Instant::now();
        let policy = Policy::load(store).await?;
        anyhow::Ok((t.elapsed(), (policy, rules)))
    })?;
    let (policy, rules) = rules;
    println!(
        "casbin policy over a SQLite store of the same world ({rules} stored rows: posts, role actions, {} menu entries with {} apps, their roles): Policy::load {:.1} ms",
        MENU_DIRS * (APPS_PER_DIR + 1),
        app_ids.len(),
        load.as_secs_f64() * 1e3,
    );
    let time = |f: &dyn Fn(usize, usize) -> bool| {
        let mut times = Vec::with_capacity(sample.len());
        let mut allowed = 0usize;
        for &(u, a) in sample {
            let t = Instant::now();
            allowed += usize::from(black_box(f(u, a)));
            times.push(t.elapsed());
        }
        times.sort();
        (times, allowed)
    };
    let users = &world.users;
    let use_app = |u: usize, a: usize| {
        policy.can_use_app(&users[u].username, &app_ids[(u * 31 + a) % app_ids.len()])
    };
    let action = |u: usize, a: usize| {
        policy.allows_action(&users[u].username, actions[(u + a) % actions.len()])
    };
    for (what, f) in [
        ("can_use_app", &use_app as &dyn Fn(usize, usize) -> bool),
        ("allows_action", &action),
    ] {
        let (first, allowed) = time(f);
        let (again, _) = time(f);
        println!(
            "{what}: first decision (casbin) {}; repeated (cached) {} — {allowed} of {} allowed",
            p50_p99(&first),
            p50_p99(&again),
            sample.len()
        );
    }
    Ok(())
}
