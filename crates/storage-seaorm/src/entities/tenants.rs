use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub revision: i64,
    pub created_at: DateTimeUtc,
    pub invitation_ttl_seconds: i32,
    pub default_budget_limit: Option<i64>,
    pub default_budget_period: Option<String>,
    pub default_budget_warn: Option<i16>,
    pub default_budget_hard: Option<bool>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
