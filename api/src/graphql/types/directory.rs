//! Directory types every role may read: the caller, regions, organizations, and the answer of
//! `childExists` (existence and a contact, never the record).

use std::sync::Arc;

use async_graphql::{Context, Object};
use carehub_entity::{organization, region};

use crate::authz::access::ChildSet;
use crate::authz::guard::Siblings;
use crate::authz::{Node, RequestCtx};
use crate::domain::region::format_code;
use crate::error::GqlResult;
use crate::graphql::enums::{Agency, OrganizationKind, Purpose, RegionLevel};
use crate::graphql::types::record_object;

record_object!(@nochild
    /// An organization (机构) of one agency: school, hospital, institution, office, hotline.
    Organization(organization::Model) {
        /// Name.
        async fn name(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read(ctx, |m| m.name.clone()).await }
        /// Kind of organization.
        async fn kind(&self, ctx: &Context<'_>) -> GqlResult<Option<OrganizationKind>> { self.0.read(ctx, |m| m.kind.into()).await }
        /// The agency it belongs to.
        async fn agency(&self, ctx: &Context<'_>) -> GqlResult<Option<Agency>> { self.0.read(ctx, |m| m.agency.into()).await }
        /// 12-digit code of its region.
        async fn region_code(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read(ctx, |m| format_code(m.region_code)).await }
        /// Contact person.
        async fn contact_name(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.contact_name.clone()).await }
        /// Contact phone.
        async fn contact_phone(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.contact_phone.clone()).await }
    }
);

impl Organization {
    /// A standalone organization node (directory rows carry no child facts).
    pub fn single(row: Arc<organization::Model>) -> Self {
        Self(Node::new(
            row.clone(),
            Siblings::new(vec![row]),
            ChildSet::new(Vec::new()),
        ))
    }

    /// Nodes sharing one sibling batch.
    pub fn many(rows: Vec<organization::Model>) -> Vec<Self> {
        let rows: Vec<Arc<organization::Model>> = rows.into_iter().map(Arc::new).collect();
        let sib = Siblings::new(rows.clone());
        let kids = ChildSet::new(Vec::new());
        rows.into_iter()
            .map(|r| Self(Node::new(r, sib.clone(), kids.clone())))
            .collect()
    }
}

/// An administrative division (行政区划).
pub struct Region(pub region::Model);

#[Object]
impl Region {
    /// 12-digit statistical code (e.g. `450102000000`).
    async fn code(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "Region")?;
        Ok(Some(format_code(self.0.code)))
    }
    /// Name (Chinese).
    async fn name(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "Region")?;
        Ok(Some(self.0.name.clone()))
    }
    /// Level: province, city, county, township or village.
    async fn level(&self, ctx: &Context<'_>) -> GqlResult<Option<RegionLevel>> {
        dir_check(ctx, "Region")?;
        Ok(Some(self.0.level.into()))
    }
    /// Code of the parent region.
    async fn parent_code(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "Region")?;
        Ok(self.0.parent_code.map(format_code))
    }
    /// The regions one level down.
    async fn subregions(&self, ctx: &Context<'_>) -> GqlResult<Option<Vec<Region>>> {
        dir_check(ctx, "Region")?;
        let rows = crate::service::directory::regions(super::read_db(ctx), Some(self.0.code))
            .await
            .map_err(crate::error::ApiError::into_gql)?;
        Ok(Some(rows.into_iter().map(Region).collect()))
    }
}

/// Static check for fields of types that carry no row facts (directory, viewer).
pub fn dir_check(ctx: &Context<'_>, ty: &str) -> GqlResult<()> {
    let rc = RequestCtx::of(ctx);
    let name = ctx.field().name();
    match rc.app.fields.get(ty, name) {
        Some(f) if rc.policy.static_read(rc.role, f) => Ok(()),
        _ => Err(crate::authz::guard::forbidden_field(
            &format!("{ty}.{name}"),
            "not in the remit of this role",
        )),
    }
}

/// The authenticated caller, as the server understood the token and headers.
pub struct Viewer;

#[Object]
impl Viewer {
    /// Token subject.
    async fn sub(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "Viewer")?;
        Ok(Some(RequestCtx::of(ctx).principal.sub.clone()))
    }
    /// Agency.
    async fn agency(&self, ctx: &Context<'_>) -> GqlResult<Option<Agency>> {
        dir_check(ctx, "Viewer")?;
        Ok(Some(RequestCtx::of(ctx).agency.into()))
    }
    /// Policy role name.
    async fn role(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "Viewer")?;
        Ok(Some(RequestCtx::of(ctx).principal.role.clone()))
    }
    /// Organization id from the token.
    async fn organization_id(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "Viewer")?;
        Ok(RequestCtx::of(ctx).principal.org.clone())
    }
    /// Region prefix the caller serves.
    async fn region_code(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "Viewer")?;
        Ok(Some(RequestCtx::of(ctx).principal.region.clone()))
    }
    /// Purpose of use of this request.
    async fn purpose(&self, ctx: &Context<'_>) -> GqlResult<Option<Purpose>> {
        dir_check(ctx, "Viewer")?;
        let p = RequestCtx::of(ctx).principal.purpose;
        Ok(carehub_entity::enums::Purpose::parse(p.as_str()).map(Into::into))
    }
    /// Purposes the role may state.
    async fn allowed_purposes(&self, ctx: &Context<'_>) -> GqlResult<Option<Vec<Purpose>>> {
        dir_check(ctx, "Viewer")?;
        let rc = RequestCtx::of(ctx);
        Ok(Some(
            rc.policy
                .role_info(rc.role)
                .purposes
                .iter()
                .filter_map(|p| carehub_entity::enums::Purpose::parse(p.as_str()).map(Into::into))
                .collect(),
        ))
    }
    /// Version (hash) of the remit policy in force.
    async fn policy_version(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        dir_check(ctx, "Viewer")?;
        Ok(Some(RequestCtx::of(ctx).policy.version().to_owned()))
    }
}

/// Whether a child is already registered, and whom to contact — never the record itself.
pub struct ChildExistence {
    pub exists_: bool,
    pub org: Option<Arc<organization::Model>>,
}

#[Object]
impl ChildExistence {
    /// Whether a matching child is registered.
    async fn exists(&self, ctx: &Context<'_>) -> GqlResult<Option<bool>> {
        dir_check(ctx, "ChildExistence")?;
        Ok(Some(self.exists_))
    }
    /// The organization responsible for the child, to contact colleagues.
    async fn responsible_organization(&self, ctx: &Context<'_>) -> GqlResult<Option<Organization>> {
        dir_check(ctx, "ChildExistence")?;
        Ok(self.org.clone().map(Organization::single))
    }
}
