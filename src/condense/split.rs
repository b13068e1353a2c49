//! "F-sampling" (method.md §1.1 step 3): a cluster that holds no forgotten item is *free* (it
//! will be blended); a cluster that holds one keeps its retained members as real images (the
//! *residual* set). In multi-round use the split is recomputed against everything forgotten so
//! far, with the clustering of round 0 (§4.4).
use super::kmeans::Clustering;
use crate::data::request::ForgetRequest;
use crate::error::{Error, Result};
use serde::Serialize;

/// The split of the retain set into residual items and free clusters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FreeResidualSplit {
    /// Retained items of clusters that hold a forgotten item (sorted).
    pub residual: Vec<i64>,
    /// Items of free clusters, ordered by cluster.
    pub free_items: Vec<i64>,
    /// For each free item, its free cluster's compact id `0..M` (ascending).
    pub free_cluster: Vec<i64>,
    /// The class of each free cluster.
    pub free_labels: Vec<i64>,
    /// The global k-means cluster of each free cluster.
    pub free_global: Vec<i64>,
}

impl FreeResidualSplit {
    pub fn num_free(&self) -> usize {
        self.free_labels.len()
    }
}

/// Splits `request`'s retain set by `clustering` (made on the same dataset).
pub fn free_residual_split(clustering: &Clustering, request: &ForgetRequest) -> Result<FreeResidualSplit> {
    if clustering.assignment.len() != request.dataset_len {
        return Err(Error::Shape(format!(
            "a clustering of {} items for a request on {} items",
            clustering.assignment.len(),
            request.dataset_len
        )));
    }
    let clusters = clustering.num_classes * clustering.k;
    let mut touched = vec![false; clusters];
    for &i in request.forget.iter().chain(&request.earlier) {
        touched[clustering.assignment[i as usize] as usize] = true;
    }
    let mut residual = Vec::new();
    let mut free_members: Vec<Vec<i64>> = vec![Vec::new(); clusters];
    for &i in &request.retain {
        let g = clustering.assignment[i as usize] as usize;
        if touched[g] {
            residual.push(i);
        } else {
            free_members[g].push(i);
        }
    }
    let mut split = FreeResidualSplit {
        residual,
        free_items: Vec::new(),
        free_cluster: Vec::new(),
        free_labels: Vec::new(),
        free_global: Vec::new(),
    };
    for (g, items) in free_members.into_iter().enumerate() {
        if items.is_empty() {
            continue; // an empty cluster is dropped (method.md §7 item 6)
        }
        let id = split.free_labels.len() as i64;
        split.free_cluster.extend(std::iter::repeat_n(id, items.len()));
        split.free_items.extend(items);
        split.free_labels.push((g / clustering.k) as i64);
        split.free_global.push(g as i64);
    }
    Ok(split)
}
