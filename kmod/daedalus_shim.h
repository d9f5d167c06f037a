/* SPDX-License-Identifier: GPL-2.0 */
/* Static inline functions and macros of the kernel API, as functions Rust can call. */
#ifndef DAEDALUS_SHIM_H
#define DAEDALUS_SHIM_H

struct mutex;
struct vb2_queue;
struct vb2_buffer;
struct vb2_v4l2_buffer;
struct v4l2_m2m_ctx;
struct dma_buf;
struct file;
struct wait_queue_head;
struct poll_table_struct;
struct delayed_work;
struct v4l2_ctrl;
struct platform_device;

void daedalus_shim_mutex_init(struct mutex *lock);
void *daedalus_shim_vb2_get_drv_priv(struct vb2_queue *q);
struct vb2_v4l2_buffer *daedalus_shim_to_vb2_v4l2_buffer(struct vb2_buffer *vb);
void daedalus_shim_vb2_set_plane_payload(struct vb2_buffer *vb, unsigned int plane,
					 unsigned long size);
unsigned long daedalus_shim_vb2_plane_size(struct vb2_buffer *vb, unsigned int plane);
unsigned long daedalus_shim_vb2_get_plane_payload(struct vb2_buffer *vb, unsigned int plane);
void daedalus_shim_v4l2_m2m_buf_done(struct vb2_v4l2_buffer *buf, int state);
void daedalus_shim_vb2_clear_last_buffer_dequeued(struct vb2_queue *q);
struct vb2_queue *daedalus_shim_m2m_src_vq(struct v4l2_m2m_ctx *m2m_ctx);
struct vb2_queue *daedalus_shim_m2m_dst_vq(struct v4l2_m2m_ctx *m2m_ctx);
void daedalus_shim_get_dma_buf(struct dma_buf *dmabuf);
struct file *daedalus_shim_dma_buf_file(struct dma_buf *dmabuf);
void daedalus_shim_init_waitqueue_head(struct wait_queue_head *wq);
void daedalus_shim_wake_up_interruptible(struct wait_queue_head *wq);
void daedalus_shim_poll_wait(struct file *file, struct wait_queue_head *wq,
			     struct poll_table_struct *pt);
void daedalus_shim_init_delayed_work(struct delayed_work *work, void (*fn)(struct work_struct *));
bool daedalus_shim_schedule_delayed_work(struct delayed_work *work, unsigned long delay);
unsigned long daedalus_shim_jiffies(void);
unsigned long daedalus_shim_msecs_to_jiffies(unsigned int ms);
int daedalus_shim_v4l2_ctrl_s_ctrl(struct v4l2_ctrl *ctrl, int val);
struct platform_device *daedalus_shim_platform_device_register_simple(const char *name);
bool daedalus_shim_is_err_or_null(const void *ptr);
long daedalus_shim_ptr_err(const void *ptr);
struct module *daedalus_shim_this_module(void);
struct v4l2_ctrl_handler;
void daedalus_shim_mutex_lock(struct mutex *lock);
void daedalus_shim_mutex_unlock(struct mutex *lock);
int daedalus_shim_v4l2_ctrl_handler_init(struct v4l2_ctrl_handler *hdl, unsigned int nr);

#endif
