//! Names to candidates: a route, an alias (of a route or a model) or a concrete model, plus
//! OpenRouter's `models: [...]` as ordered fallbacks after them.

use switchyard_core::ChatRequest;

use crate::error::GatewayError;
use crate::runtime::{Engine, RouteRt, Strategy};

/// What `model` (and `models`) resolved to.
pub struct Target<'a> {
    /// The route, alias target or model name.
    pub name: String,
    pub route: Option<&'a RouteRt>,
    pub strategy: Strategy,
    /// (model index, position in the route's list, from `models: [...]`).
    pub list: Vec<(usize, usize, bool)>,
    /// The model the client named, or the route's configured baseline.
    pub baseline: Option<usize>,
    /// The client named one concrete model (directly or by alias).
    pub direct: bool,
}

impl Engine {
    fn resolve_name<'a>(
        &'a self,
        name: &'a str,
    ) -> Option<(&'a str, Option<&'a RouteRt>, Option<usize>)> {
        let target = self.aliases.get(name).map_or(name, String::as_str);
        if let Some(r) = self.routes.get(target) {
            return Some((target, Some(r), None));
        }
        self.model_index
            .get(target)
            .map(|&i| (target, None, Some(i)))
    }

    pub(crate) fn resolve_request<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> Result<Target<'a>, GatewayError> {
        let (name, route, model) = self
            .resolve_name(&req.model)
            .ok_or_else(|| GatewayError::unknown_model(&req.model))?;
        let extra = req.models.as_deref().unwrap_or_default();
        let mut list = Vec::with_capacity(route.map_or(1, |r| r.candidates.len()) + extra.len());
        let (strategy, baseline) = match (route, model) {
            (Some(r), _) => {
                list.extend(r.candidates.iter().enumerate().map(|(p, &i)| (i, p, false)));
                (r.strategy, r.baseline)
            }
            (None, Some(i)) => {
                list.push((i, 0, false));
                (Strategy::Ordered, Some(i))
            }
            (None, None) => return Err(GatewayError::unknown_model(&req.model)),
        };
        for name in extra {
            let (_, r, m) = self
                .resolve_name(name)
                .ok_or_else(|| GatewayError::unknown_model(name).with_param("models"))?;
            let more = r.map_or_else(|| m.into_iter().collect(), |r| r.candidates.clone());
            for i in more {
                if !list.iter().any(|&(j, _, _)| j == i) {
                    list.push((i, list.len(), true));
                }
            }
        }
        Ok(Target {
            name: name.to_owned(),
            route,
            strategy,
            list,
            baseline,
            direct: route.is_none(),
        })
    }
}
