use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub role: String,
    pub status: String,
    pub source: String,
    pub referral_code: Option<String>,
    pub search_text: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub activated_at: Option<DateTimeUtc>,
    pub last_active_at: Option<DateTimeUtc>,
    pub deactivated_at: Option<DateTimeUtc>,
    pub version: i64,
    pub license_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
